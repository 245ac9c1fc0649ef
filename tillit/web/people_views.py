"""Staff pages for people and organisations: search, the person page (fields, retention in
words, timeline, subscriptions), logging a call, an email or a note, and editing (rectification).

Every page works for one purpose at a time (the role's default, or the one chosen); the read
gate decides which fields show, and every read is audited there.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from tillit import policy
from tillit.consent import selectors as consent_selectors
from tillit.consent import services as consent_services
from tillit.core.actors import Actor
from tillit.core.errors import DomainError, PermissionDeniedError, ValidationError
from tillit.people import dialogues, selectors, services
from tillit.people.models import CustomerRelationship
from tillit.policy import purposes as purpose_rules
from tillit.policy.capture import may_merge_people, may_record_orders
from tillit.web.views import staff_view


def _purpose_choices(actor: Actor) -> list[tuple[str, str]]:
    current = policy.current()
    language = (translation.get_language() or current.default_language).split("-")[0]
    return [
        (key, current.purposes[key].label.get(language, current.purposes[key].label[current.default_language]))
        for key in purpose_rules.purposes_for_role(current, actor.role)
    ]


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.POST.get("page") or request.GET.get("page", "1")))
    except ValueError:
        return 1


def _search_input(request: HttpRequest) -> tuple[str, str | None]:
    """The search term and the purpose of a search form. The term comes only from a POST body:
    in a URL it would stay in access logs, proxies and the browser's history after the person
    is erased (DESIGN.md rule 10). A GET shows the list without a term."""
    data = request.POST if request.method == "POST" else request.GET
    query = request.POST.get("q", "")[:200] if request.method == "POST" else ""
    return query, data.get("purpose") or None


@staff_view
@require_http_methods(["GET", "POST"])
def people_search(request: HttpRequest, actor: Actor) -> HttpResponse:
    """Search people by name, email, phone or organisation (paginated, 25 a page). The form
    and its live search post the term; the pages of a result post it again."""
    query, asked = _search_input(request)
    purpose = selectors.resolve_purpose(actor, asked)
    page = selectors.search_people(
        actor=actor, now=timezone.now(), purpose=purpose, query=query, page=_page_number(request)
    )
    context = {"page": page, "q": query, "purpose": purpose, "purposes": _purpose_choices(actor)}
    template = "web/people_results.html" if request.headers.get("HX-Request") else "web/people_search.html"
    return render(request, template, context)


class InteractionForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("What"),
        choices=[("call", gettext_lazy("Call")), ("email", gettext_lazy("Email")), ("note", gettext_lazy("Note"))],
    )
    direction = forms.ChoiceField(
        label=gettext_lazy("Who started it"),
        choices=[
            ("inbound", gettext_lazy("The person (inbound)")),
            ("outbound", gettext_lazy("We did (outbound)")),
            ("internal", gettext_lazy("Internal note")),
        ],
    )
    reached = forms.BooleanField(label=gettext_lazy("The person answered (outbound call)"), required=False)
    occurred_at = forms.DateTimeField(
        label=gettext_lazy("When"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=300, required=False)
    summary = forms.CharField(
        label=gettext_lazy("Summary"), max_length=20_000, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )


class ObjectionForm(forms.Form):
    """An objection to direct marketing the person makes to staff directly (issue 15, §8)."""

    contact_channel = forms.ChoiceField(
        label=gettext_lazy("How the person told you"),
        choices=[
            ("phone", gettext_lazy("By phone")),
            ("email", gettext_lazy("By email")),
            ("in_person", gettext_lazy("In person")),
            ("letter", gettext_lazy("By letter")),
        ],
    )
    note = forms.CharField(
        label=gettext_lazy("Note (optional)"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class PersonForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    email = forms.CharField(label=gettext_lazy("Email"), max_length=254, required=False)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=32, required=False)
    position = forms.CharField(label=gettext_lazy("Position"), max_length=200, required=False)


# Where staff got a person's details when registering them by hand (§4, §6); a business card
# is an indirect source, so the person is sent the GDPR art. 14 notice (consent.indirect).
STAFF_SOURCES = ("customer_service", "business_card")


class PersonCreateForm(PersonForm):
    source = forms.ChoiceField(label=gettext_lazy("Where the details come from"), choices=(), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = policy.current()
        language = translation.get_language() or current.default_language
        self.fields["source"].choices = [  # type: ignore[attr-defined]
            (key, current.sources[key].label.get(language, current.sources[key].label["en"]))
            for key in STAFF_SOURCES
            if key in current.sources
        ]
        self.fields["source"].initial = STAFF_SOURCES[0]


def _person_context(actor: Actor, person_id: int, purpose: str | None) -> dict[str, Any]:
    now = timezone.now()
    person = selectors.get_person(actor=actor, now=now, person_id=person_id, purpose=purpose)
    purpose = person["purpose"]
    visible = purpose_rules.visible_categories(policy.current(), actor.role, purpose)
    return {
        "person": person,
        "purpose": purpose,
        "purposes": _purpose_choices(actor),
        "timeline": selectors.person_timeline(actor=actor, now=now, person_id=person_id, purpose=purpose),
        "choices": selectors.person_choices(actor=actor, now=now, person_id=person_id, purpose=purpose),
        "consents": _consents(actor, now, person_id, purpose, visible),
        "may_log": "correspondence" in visible,
        "may_edit": "name" in visible,
        "may_merge": may_merge_people(policy.current(), actor.role),
        "interaction_form": InteractionForm(initial={"kind": "call", "direction": "inbound"}),
        "may_object": purpose_rules.may_take_objection(policy.current(), actor.role)
        and (person["marketing_blocked"] or {}).get("reason") != "objected",
        "objection_form": ObjectionForm(initial={"contact_channel": "phone"}),
        "dialogues": dialogues.person_dialogues(actor=actor, person_id=person_id),
        "end_relationship_form": EndRelationshipForm() if may_record_orders(policy.current(), actor.role) else None,
    }


def _consents(actor: Actor, now: dt.datetime, person_id: int, purpose: str, visible: frozenset[str]) -> Any:
    """The consent ledger of the person, for a role that sees the ``choices`` category."""
    if "choices" not in visible:
        return None
    return consent_selectors.consent_overview(actor=actor, now=now, person_id=person_id, purpose=purpose)


@staff_view
def person_detail(request: HttpRequest, actor: Actor, person_id: int) -> HttpResponse:
    """A person: the fields the role may see, why and until when they are stored, the timeline."""
    context = _person_context(actor, person_id, request.GET.get("purpose") or None)
    return render(request, "web/person.html", context)


@staff_view
@require_POST
def log_interaction(request: HttpRequest, actor: Actor, person_id: int) -> HttpResponse:
    """Log a call, an email or a note on the person's timeline (§16)."""
    purpose = request.POST.get("purpose") or None
    form = InteractionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        occurred_at: dt.datetime | None = data["occurred_at"]
        try:
            recorded = services.guard_and_record_interaction(
                actor=actor,
                now=timezone.now(),
                person_id=person_id,
                kind=data["kind"],
                direction=data["direction"],
                occurred_at=occurred_at,
                reached=data["reached"],
                subject=data["subject"],
                summary=data["summary"],
                purpose=purpose,
            )
        except ValidationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            if recorded.quarantined:
                messages.warning(
                    request,
                    _(
                        "Possible sensitive data was found. The text is held back for the privacy "
                        "officer and not shown in the profile (privacy policy §16)."
                    ),
                )
            messages.success(request, _("Logged on the timeline."))
            return HttpResponseRedirect(
                reverse("web:person", args=[person_id]) + "?" + urlencode({"purpose": purpose or ""})
            )
    context = _person_context(actor, person_id, purpose)
    context["interaction_form"] = form
    return render(request, "web/person.html", context, status=422)


@staff_view
@require_POST
def person_objection(request: HttpRequest, actor: Actor, person_id: int) -> HttpResponse:
    """The person objects to direct marketing, e.g. during the call: recorded at once (the
    ledger, the suppression list; call lists and campaigns skip them from now on), audited."""
    purpose = request.POST.get("purpose") or None
    now = timezone.now()
    selectors.get_person(actor=actor, now=now, person_id=person_id, purpose=purpose)
    form = ObjectionForm(request.POST)
    if form.is_valid():
        try:
            taken = consent_services.take_objection_to_direct_marketing(
                actor=actor,
                now=now,
                person_id=person_id,
                contact_channel=form.cleaned_data["contact_channel"],
                note=form.cleaned_data["note"],
                language=policy.current().default_language,
            )
        except ValidationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            if taken.recorded:
                messages.success(
                    request, _("The objection is recorded: no direct marketing reaches this person from now on.")
                )
            else:
                messages.info(request, _("This person had already objected; nothing changed."))
            # The objection stops the marketing purposes: show the person for one still open.
            still = selectors.readable_purposes(actor=actor, person_id=person_id)
            if not still:
                return HttpResponseRedirect(reverse("web:people"))
            shown = purpose if purpose in still else still[0]
            return HttpResponseRedirect(reverse("web:person", args=[person_id]) + "?" + urlencode({"purpose": shown}))
    context = _person_context(actor, person_id, purpose)
    context["objection_form"] = form
    return render(request, "web/person.html", context, status=422)


@staff_view
@require_http_methods(["GET", "POST"])
def person_edit(request: HttpRequest, actor: Actor, person_id: int) -> HttpResponse:
    """Correct a person's data (rectification, GDPR art. 16); audited without the values."""
    purpose = request.POST.get("purpose") or request.GET.get("purpose") or None
    person = selectors.get_person(actor=actor, now=timezone.now(), person_id=person_id, purpose=purpose)
    form = PersonForm(
        request.POST or None, initial={k: person.get(k) or "" for k in ("name", "email", "phone", "position")}
    )
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.cleaned_data.items() if k in person and (person.get(k) or "") != v}
        try:
            if changes:
                services.update_person(
                    actor=actor,
                    now=timezone.now(),
                    person_id=person_id,
                    source="customer_service",
                    changes=changes,
                    purpose=person["purpose"],
                )
        except ValidationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("Saved.") if changes else _("Nothing changed."))
            return HttpResponseRedirect(reverse("web:person", args=[person_id]))
    for name in list(form.fields):
        if name not in person:
            del form.fields[name]
    return render(request, "web/person_edit.html", {"form": form, "person": person}, status=422 if form.errors else 200)


@staff_view
@require_http_methods(["GET", "POST"])
def person_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    """Register a person (e.g. someone who called customer service, §6)."""
    selectors.resolve_purpose(actor, None)  # a role without any purpose may not register people
    form = PersonCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = {k: v for k, v in form.cleaned_data.items() if v and k != "source"}
        try:
            person = services.create_person(
                actor=actor, now=timezone.now(), source=form.cleaned_data["source"] or STAFF_SOURCES[0], values=values
            )
        except ValidationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("Registered."))
            blocked = selectors.marketing_blocked(person)
            if blocked is not None:  # they asked to be removed before: never silently back
                messages.warning(request, blocked["message"])
            return HttpResponseRedirect(reverse("web:person", args=[person.pk]))
    return render(request, "web/person_edit.html", {"form": form, "person": None}, status=422 if form.errors else 200)


@staff_view
@require_http_methods(["GET", "POST"])
def organizations_search(request: HttpRequest, actor: Actor) -> HttpResponse:
    """Organisations by name or number; the term is posted (a sole proprietorship's name is a
    person's name)."""
    query, asked = _search_input(request)
    purpose = selectors.resolve_purpose(actor, asked)
    page = selectors.search_organizations(
        actor=actor, now=timezone.now(), purpose=purpose, query=query, page=_page_number(request)
    )
    return render(
        request,
        "web/organizations.html",
        {"page": page, "q": query, "purpose": purpose, "purposes": _purpose_choices(actor)},
    )


@staff_view
def organization_detail(request: HttpRequest, actor: Actor, organization_id: int) -> HttpResponse:
    organization = selectors.get_organization(
        actor=actor, now=timezone.now(), organization_id=organization_id, purpose=request.GET.get("purpose") or None
    )
    return render(request, "web/organization.html", {"organization": organization})


class EmailUploadForm(forms.Form):
    message = forms.FileField(label=gettext_lazy("The email, saved as a .eml file (RFC 822)"))


@staff_view
@require_http_methods(["GET", "POST"])
def email_upload(request: HttpRequest, actor: Actor) -> HttpResponse:
    """Put an email forwarded from a mailbox on the timeline of the people it is about (§16)."""
    selectors.resolve_purpose(actor, None)
    form = EmailUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["message"]
        if upload.size > 10 * 1024 * 1024:
            form.add_error("message", _("The file is over 10 MB."))
        else:
            try:
                result = services.record_email_message(actor=actor, now=timezone.now(), raw=upload.read())
            except ValidationError as error:
                form.add_error("message", error.message)
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                if result.quarantined:
                    messages.warning(
                        request,
                        _(
                            "Possible sensitive data was found in this email. It is held back "
                            "for the privacy officer and not shown in the profile."
                        ),
                    )
                messages.success(
                    request,
                    ngettext(
                        "The email is on the timeline of %(n)s person.",
                        "The email is on the timeline of %(n)s people.",
                        len(result.person_ids),
                    )
                    % {"n": len(result.person_ids)},
                )
                return HttpResponseRedirect(reverse("web:person", args=[result.person_ids[0]]))
    return render(request, "web/email_upload.html", {"form": form}, status=422 if form.errors else 200)


class EndRelationshipForm(forms.Form):
    """Ending a customer relationship: why (a choice, so no personal data is written)."""

    reason = forms.ChoiceField(
        label=gettext_lazy("Why does it end?"),
        choices=[c for c in CustomerRelationship.EndReason.choices if c[0] in CustomerRelationship.STAFF_END_REASONS],
    )


@staff_view
@require_POST
def end_customer_relationship(request: HttpRequest, actor: Actor, person_id: int) -> HttpResponse:
    """End the person's customer relationship, with a reason (§9: from then the dialogue rule's
    two years run)."""
    if not may_record_orders(policy.current(), actor.role):
        raise PermissionDeniedError("your role may not end customer relationships")
    purpose = request.POST.get("purpose") or None
    form = EndRelationshipForm(request.POST)
    if form.is_valid():
        services.end_customer_relationship(
            actor=actor, now=timezone.now(), person_id=person_id, reason=form.cleaned_data["reason"]
        )
        messages.success(request, _("The customer relationship has ended."))
        return HttpResponseRedirect(
            reverse("web:person", args=[person_id]) + "?" + urlencode({"purpose": purpose or ""})
        )
    context = _person_context(actor, person_id, purpose)
    context["end_relationship_form"] = form
    return render(request, "web/person.html", context, status=422)
