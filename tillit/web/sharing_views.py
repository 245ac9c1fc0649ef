"""Staff pages for sharing (policy §11, §12; GDPR art. 19, 30): partners and processors'
channels, dialogues and their people, the disclose page (the only way data leaves: pick the
fields the policy and the role allow, preview, then export or send), the notices owed to
recipients, the records of processing (HTML, PDF, JSON), the verifier's report with its
history, and partner events. Views translate: parse, call one service or selector, render."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tillit import policy
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, DomainError, ValidationError
from tillit.policy import disclosure as disclosure_rules
from tillit.policy import purposes as purpose_rules
from tillit.sharing import records, selectors, services, tasks
from tillit.sharing.models import Disclosure
from tillit.web.views import staff_view


def _language() -> str:
    return (get_language() or "en")[:2]


def _category_label(key: str) -> str:
    current = policy.current()
    labels = current.categories[key].label
    return labels.get(_language()) or labels[current.default_language]


# --- partners and processors -----------------------------------------------------------------------


@staff_view
@require_http_methods(["GET", "POST"])
def partners(request: HttpRequest, actor: Actor) -> HttpResponse:
    """The partners; the privacy officer registers new ones and enters processors' channels."""
    error: DomainError | None = None
    if request.method == "POST":
        try:
            created = services.register_partner(
                actor=actor,
                now=timezone.now(),
                values={k: request.POST.get(k, "") for k in services.PARTNER_FIELDS},
            )
        except DomainError as caught:
            error = caught
        else:
            messages.success(request, _("The partner is registered."))
            return HttpResponseRedirect(reverse("web:partner", args=[created.pk]))
    context = {
        "partners": selectors.partners(actor=actor, include_ended=True),
        "may_manage": selectors.may_manage_partners(actor),
        "processors": selectors.processors(actor=actor) if selectors.may_manage_partners(actor) else [],
        "error": error,
        "values": request.POST,
        "rules": _rules_context(),
    }
    return render(request, "web/partners.html", context, status=error.status if error else 200)


def _rules_context() -> dict[str, Any]:
    current = policy.current()
    return {
        "categories": [_category_label(c) for c in current.partners.categories],
        "event_categories": [_category_label(c) for c in current.partners.event_categories],
        "section": current.partners.section,
    }


@staff_view
def partner_detail(request: HttpRequest, actor: Actor, partner_id: int) -> HttpResponse:
    found = selectors.partner(actor=actor, partner_id=partner_id)
    return render(
        request,
        "web/partner.html",
        {
            "partner": found,
            "kinds": selectors.dialogue_kinds_for(actor),
            "may_manage": selectors.may_manage_partners(actor),
            "ledger": selectors.ledger(actor=actor, partner_id=partner_id).items,
        },
    )


@staff_view
@require_POST
def partner_end(request: HttpRequest, actor: Actor, partner_id: int) -> HttpResponse:
    services.end_partnership(actor=actor, now=timezone.now(), partner_id=partner_id)
    messages.success(request, _("The partnership has ended; its dialogues are closed."))
    return HttpResponseRedirect(reverse("web:partner", args=[partner_id]))


@staff_view
@require_POST
def processor_channel(request: HttpRequest, actor: Actor, processor_key: str) -> HttpResponse:
    try:
        services.set_processor_channel(
            actor=actor,
            now=timezone.now(),
            processor_key=processor_key,
            contact_email=request.POST.get("contact_email", ""),
            endpoint_url=request.POST.get("endpoint_url", ""),
        )
    except ValidationError as error:
        messages.error(request, f"{error.field}: {error.message}")
    else:
        messages.success(request, _("The processor's channel is saved."))
    return HttpResponseRedirect(reverse("web:partners"))


# --- dialogues ---------------------------------------------------------------------------------------


@staff_view
@require_http_methods(["GET", "POST"])
def dialogues(request: HttpRequest, actor: Actor) -> HttpResponse:
    """Open dialogues with partners; open a new one."""
    if not selectors.dialogue_kinds_for(actor):
        selectors.dialogues(actor=actor)  # raises: the role takes part in no dialogues
    if request.method == "POST":
        try:
            opened = services.open_dialogue(
                actor=actor,
                now=timezone.now(),
                partner_id=int(request.POST.get("partner") or 0),
                kind=request.POST.get("kind", ""),
                title=request.POST.get("title", ""),
            )
        except ValueError:
            messages.error(request, _("Choose a partner."))
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("The dialogue is open."))
            return HttpResponseRedirect(reverse("web:dialogue", args=[opened.pk]))
    rows = selectors.dialogues(actor=actor, include_closed=request.GET.get("all") == "1")
    return render(
        request,
        "web/dialogues.html",
        {
            "dialogues": rows,
            "partners": selectors.partners(actor=actor),
            "kinds": selectors.dialogue_kinds_for(actor),
        },
    )


@staff_view
def dialogue_detail(request: HttpRequest, actor: Actor, dialogue_id: int) -> HttpResponse:
    found = selectors.dialogue_detail(actor=actor, now=timezone.now(), dialogue_id=dialogue_id)
    return render(request, "web/dialogue.html", {"dialogue": found})


@staff_view
@require_POST
def dialogue_close(request: HttpRequest, actor: Actor, dialogue_id: int) -> HttpResponse:
    services.close_dialogue(actor=actor, now=timezone.now(), dialogue_id=dialogue_id)
    messages.success(request, _("The dialogue is closed: nothing more goes to the partner through it."))
    return HttpResponseRedirect(reverse("web:dialogue", args=[dialogue_id]))


@staff_view
@require_POST
def dialogue_add(request: HttpRequest, actor: Actor, dialogue_id: int) -> HttpResponse:
    """Add people by their numbers (as shown on the person page), separated by spaces or commas."""
    text = request.POST.get("people", "")
    ids = selectors.people_ids_in(text.replace(",", " ").split())
    try:
        added = services.add_to_dialogue(actor=actor, now=timezone.now(), dialogue_id=dialogue_id, person_ids=ids)
    except (ValidationError, ConflictError) as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            ngettext("%(n)s person joined the dialogue.", "%(n)s people joined the dialogue.", added) % {"n": added},
        )
    return HttpResponseRedirect(reverse("web:dialogue", args=[dialogue_id]))


@staff_view
@require_POST
def dialogue_remove(request: HttpRequest, actor: Actor, dialogue_id: int, person_id: int) -> HttpResponse:
    services.remove_from_dialogue(actor=actor, now=timezone.now(), dialogue_id=dialogue_id, person_id=person_id)
    messages.success(request, _("The person left the dialogue."))
    return HttpResponseRedirect(reverse("web:dialogue", args=[dialogue_id]))


# --- disclose ----------------------------------------------------------------------------------------


def _choices(actor: Actor, purpose: str, event: bool) -> list[tuple[str, str]]:
    """The fields to pick from: what the policy lets partners have, that the role may see."""
    current = policy.current()
    visible = purpose_rules.visible_categories(current, actor.role, purpose)
    return [
        (key, _category_label(key))
        for key in disclosure_rules.allowed_categories(current, partner_event=event)
        if key in visible
    ]


@staff_view
@require_http_methods(["GET", "POST"])
def disclose(request: HttpRequest, actor: Actor, dialogue_id: int) -> HttpResponse:
    """Pick the fields and the channel, preview who and what would go, then export or send."""
    dialogue = selectors.dialogue_detail(actor=actor, now=timezone.now(), dialogue_id=dialogue_id)
    data = request.POST if request.method == "POST" else request.GET
    event_id = int(data["event"]) if data.get("event", "").isdigit() else None
    categories = data.getlist("fields") or [c for c, _ in _choices(actor, dialogue["purpose"], False)]
    person_ids = selectors.people_ids_in(data.getlist("person")) or None
    channel = data.get("channel", Disclosure.Channel.CSV)
    context: dict[str, Any] = {
        "dialogue": dialogue,
        "choices": _choices(actor, dialogue["purpose"], event_id is not None),
        "chosen": categories,
        "channels": Disclosure.Channel.choices,
        "channel": channel,
        "event_id": event_id,
        "preview": None,
        "error": None,
    }
    if request.method == "GET":
        return render(request, "web/disclose.html", context)
    try:
        if request.POST.get("action") == "preview":
            plan = services.plan_disclosure(
                actor=actor, dialogue_id=dialogue_id, categories=categories, person_ids=person_ids, event_id=event_id
            )
            names = {p["id"]: p.get("name", "") for p in dialogue["people"]}
            context["preview"] = [
                {
                    "id": pid,
                    "name": names.get(pid, ""),
                    "allowed": d.allowed,
                    "reason": d.reason,
                    "categories": [_category_label(c) for c in d.categories],
                }
                for pid, (_row, d) in plan.decisions.items()
            ]
            context["may_go"] = not plan.refused
            return render(request, "web/disclose.html", context)
        result = services.disclose(
            actor=actor,
            now=timezone.now(),
            dialogue_id=dialogue_id,
            categories=categories,
            channel=channel,
            person_ids=person_ids,
            event_id=event_id,
            on_commit=lambda delivery: tasks.deliver_disclosure.enqueue(delivery.pk),
        )
    except DomainError as error:
        context["error"] = error
        return render(request, "web/disclose.html", context, status=error.status)
    if result.content is None:
        messages.success(request, _("The disclosure is on its way to the partner's endpoint."))
        return HttpResponseRedirect(reverse("web:dialogue", args=[dialogue_id]))
    response = HttpResponse(result.content, content_type=result.content_type)
    response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    return response


@staff_view
@require_POST
def delivery_retry(request: HttpRequest, actor: Actor, delivery_id: int) -> HttpResponse:
    delivery = services.retry_delivery(actor=actor, now=timezone.now(), delivery_id=delivery_id)
    tasks.deliver_disclosure.enqueue(delivery.pk)
    messages.success(request, _("The delivery will be tried again."))
    return HttpResponseRedirect(reverse("web:dialogue", args=[delivery.disclosure.dialogue_id]))


@staff_view
def person_disclosures(request: HttpRequest, actor: Actor, person_id: int) -> HttpResponse:
    """ "Who received my data": the person's rows of the disclosure ledger (a fragment for the
    person page, or a page of its own)."""
    rows = selectors.person_ledger(actor=actor, now=timezone.now(), person_id=person_id)
    template = (
        "web/person_disclosures_fragment.html" if request.headers.get("HX-Request") else "web/person_disclosures.html"
    )
    return render(request, template, {"rows": rows, "person_id": person_id})


# --- notices to recipients ------------------------------------------------------------------------------


@staff_view
def notices(request: HttpRequest, actor: Actor) -> HttpResponse:
    rows = selectors.notices(actor=actor, open_only=request.GET.get("open") == "1")
    return render(request, "web/notices.html", {"notices": rows, "may_manage": selectors.may_manage_partners(actor)})


@staff_view
@require_POST
def notice_acknowledge(request: HttpRequest, actor: Actor, notice_id: int) -> HttpResponse:
    services.record_acknowledgement(actor=actor, now=timezone.now(), notice_id=notice_id)
    messages.success(request, _("The acknowledgement is recorded."))
    return HttpResponseRedirect(reverse("web:notices"))


# --- records of processing (art. 30) ------------------------------------------------------------------


def _record(actor: Actor) -> dict[str, Any]:
    selectors.check_records(actor)
    return records.records_of_processing(now=timezone.now(), language=_language())


@staff_view
def records_page(request: HttpRequest, actor: Actor) -> HttpResponse:
    return render(request, "web/records.html", {"record": _record(actor)})


@staff_view
def records_pdf(request: HttpRequest, actor: Actor) -> HttpResponse:
    response = HttpResponse(records.render_pdf(_record(actor)), content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="records-of-processing.pdf"'
    return response


@staff_view
def records_json(request: HttpRequest, actor: Actor) -> HttpResponse:
    return JsonResponse(json.loads(json.dumps(_record(actor), default=str)), json_dumps_params={"indent": 1})


# --- the verifier's report ------------------------------------------------------------------------------


@staff_view
def verify_report(request: HttpRequest, actor: Actor, run_id: int | None = None) -> HttpResponse:
    """The latest run of ``tillit verify`` (or one from the history), and the history."""
    run = selectors.verify_run(actor=actor, run_id=run_id)
    return render(
        request,
        "web/verify.html",
        {"run": run, "runs": selectors.verify_runs(actor=actor), "kinds": _kinds()},
    )


def _kinds() -> list[str]:
    from tillit.sharing.verifier import KINDS

    return list(KINDS)


@staff_view
@require_POST
def verify_now(request: HttpRequest, actor: Actor) -> HttpResponse:
    selectors.check_records(actor)
    tasks.run_verifier.enqueue(actor.label)
    messages.success(request, _("The verifier is running; its report appears here when it has finished."))
    return HttpResponseRedirect(reverse("web:verify"))


# --- events -------------------------------------------------------------------------------------------


@staff_view
@require_http_methods(["GET", "POST"])
def events(request: HttpRequest, actor: Actor) -> HttpResponse:
    """Events, alone or with a partner; create one (with its registration form)."""
    selectors.check_partner_access(actor)
    if request.method == "POST":
        try:
            starts = parse_datetime(request.POST.get("starts_at", "") or "")
            if starts is None:
                raise ValidationError(_("a date and time like 2026-11-24 18:00"), field="starts_at")
            if timezone.is_naive(starts):
                starts = timezone.make_aware(starts)
            created = services.create_event(
                actor=actor,
                now=timezone.now(),
                name=request.POST.get("name", ""),
                starts_at=starts,
                partner_id=int(request.POST["partner"]) if request.POST.get("partner", "").isdigit() else None,
                language=request.POST.get("language") or policy.current().default_language,
            )
        except DomainError as error:
            messages.error(request, f"{error.message}")
        else:
            messages.success(request, _("The event is created with its registration form."))
            return HttpResponseRedirect(reverse("web:events") + f"#event-{created.pk}")
    return render(
        request,
        "web/events.html",
        {
            "events": selectors.events(actor=actor),
            "partners": selectors.partners(actor=actor),
            "languages": policy.current().languages,
        },
    )


@staff_view
@require_POST
def event_attend(request: HttpRequest, actor: Actor, event_id: int) -> HttpResponse:
    selectors.check_partner_access(actor)
    ids = selectors.people_ids_in(request.POST.get("people", "").replace(",", " ").split())
    try:
        n = services.record_attendance(actor=actor, now=timezone.now(), event_id=event_id, person_ids=ids)
    except (ValidationError, ConflictError) as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            ngettext("Attendance recorded for %(n)s person.", "Attendance recorded for %(n)s people.", n) % {"n": n},
        )
    return HttpResponseRedirect(reverse("web:events"))
