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
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from tillit import policy
from tillit.consent import selectors as consent_selectors
from tillit.core.actors import Actor
from tillit.core.errors import DomainError, PermissionDeniedError, ValidationError
from tillit.people import selectors, services
from tillit.people.models import CustomerRelationship
from tillit.policy import purposes as purpose_rules
from tillit.policy.capture import may_merge_people, may_record_orders
from tillit.web.views import staff_view


def _purpose_choices(actor: Actor) -> list[tuple[str, str]]:
    current = policy.current()
    return [(key, current.purposes[key].label["en"]) for key in purpose_rules.purposes_for_role(current, actor.role)]


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


@staff_view
def people_search(request: HttpRequest, actor: Actor) -> HttpResponse:
    """Search people by name, email, phone or organisation (paginated, 25 a page)."""
    query = request.GET.get("q", "")[:200]
    purpose = selectors.resolve_purpose(actor, request.GET.get("purpose") or None)
    page = selectors.search_people(
        actor=actor, now=timezone.now(), purpose=purpose, query=query, page=_page_number(request)
    )
    context = {
        "page": page,
        "q": query,
        "purpose": purpose,
        "purposes": _purpose_choices(actor),
        "base_query": urlencode({"q": query, "purpose": purpose}),
    }
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


class PersonForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    email = forms.CharField(label=gettext_lazy("Email"), max_length=254, required=False)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=32, required=False)
    position = forms.CharField(label=gettext_lazy("Position"), max_length=200, required=False)


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
    form = PersonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = {k: v for k, v in form.cleaned_data.items() if v}
        try:
            person = services.create_person(actor=actor, now=timezone.now(), source="customer_service", values=values)
        except ValidationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("Registered."))
            return HttpResponseRedirect(reverse("web:person", args=[person.pk]))
    return render(request, "web/person_edit.html", {"form": form, "person": None}, status=422 if form.errors else 200)


@staff_view
def organizations_search(request: HttpRequest, actor: Actor) -> HttpResponse:
    query = request.GET.get("q", "")[:200]
    purpose = selectors.resolve_purpose(actor, request.GET.get("purpose") or None)
    page = selectors.search_organizations(
        actor=actor, now=timezone.now(), purpose=purpose, query=query, page=_page_number(request)
    )
    return render(
        request,
        "web/organizations.html",
        {
            "page": page,
            "q": query,
            "purpose": purpose,
            "purposes": _purpose_choices(actor),
            "base_query": urlencode({"q": query, "purpose": purpose}),
        },
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
                    request, _("The email is on the timeline of %(n)s person(s).") % {"n": len(result.person_ids)}
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
