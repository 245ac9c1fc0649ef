"""The request desk of the privacy officer (tool ``request_desk``, policy §13): every data
subject request with its status, legal due date, warnings and history; register a request
received by phone, letter or email; extend, refuse, complete; decide corrections; attach a
signed PDF and confirm identity from it. Views translate: parse, call one service, render."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tillit import policy
from tillit.core.actors import Actor
from tillit.core.errors import DomainError, ValidationError
from tillit.policy import rights as rights_rule
from tillit.policy.retention import CONTROLLER_TIME_ZONE
from tillit.rights import selectors, services
from tillit.rights.mail import FIELD_LABELS, GROUNDS_LABELS, KIND_LABELS
from tillit.web.views import staff_view


def _back(request_id: int) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("web:rights-request", args=[request_id]))


@staff_view
def desk(request: HttpRequest, actor: Actor) -> HttpResponse:
    which = request.GET.get("which", "open")
    try:
        page_number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page_number = 1
    page = selectors.desk_requests(actor=actor, now=timezone.now(), which=which, page=page_number)
    return render(
        request,
        "web/rights_desk.html",
        {"page": page, "which": which, "filters": selectors.FILTERS, "kinds": KIND_LABELS},
    )


@staff_view
def request_detail(request: HttpRequest, actor: Actor, request_id: int) -> HttpResponse:
    item = selectors.desk_request(actor=actor, now=timezone.now(), request_id=request_id)
    return render(
        request,
        "web/rights_request.html",
        {
            "item": item,
            "kinds": KIND_LABELS,
            "fields": FIELD_LABELS,
            "grounds": GROUNDS_LABELS,
            "max_mb": services.MAX_DOCUMENT_BYTES // 2**20,
        },
    )


@staff_view
def register(request: HttpRequest, actor: Actor) -> HttpResponse:
    selectors.check_desk(actor)
    context: dict[str, Any] = {
        "kinds": [(k, KIND_LABELS[k]) for k in rights_rule.request_kinds(policy.current())],
        "fields": list(FIELD_LABELS.items()),
        "purposes": selectors.objection_purposes(translation.get_language() or "en"),
        "grounds": list(GROUNDS_LABELS.items()),
        "values": request.POST,
    }
    if request.method != "POST":
        return render(request, "web/rights_new.html", context)
    try:
        received = _received_at(request.POST.get("received_on", ""))
        person_id = int(request.POST.get("person_id") or 0)
        created = services.register_request(
            actor=actor,
            now=timezone.now(),
            person_id=person_id,
            kind=request.POST.get("kind", ""),
            channel=request.POST.get("channel", ""),
            received_at=received,
            details=request.POST.get("details", ""),
            correction_field=request.POST.get("correction_field", ""),
            correction_value=request.POST.get("correction_value", ""),
            objection_purpose=request.POST.get("objection_purpose", ""),
            restriction_grounds=request.POST.get("restriction_grounds", ""),
        )
    except ValueError:
        return render(request, "web/rights_new.html", {**context, "error": _("Give the person's number.")}, status=422)
    except DomainError as error:
        return render(request, "web/rights_new.html", {**context, "error": error.message}, status=error.status)
    messages.success(request, _("The request is registered. A confirmation link went to the address we hold."))
    return _back(created.pk)


def _received_at(text: str) -> dt.datetime | None:
    if not text:
        return None
    day = parse_date(text)
    if day is None:
        raise ValidationError("a date like 2026-11-24", field="received_on")
    return dt.datetime.combine(day, dt.time(12), tzinfo=CONTROLLER_TIME_ZONE)


@staff_view
@require_POST
def extend(request: HttpRequest, actor: Actor, request_id: int) -> HttpResponse:
    services.extend_request(
        actor=actor, now=timezone.now(), request_id=request_id, reason=request.POST.get("reason", "")
    )
    messages.success(request, _("The deadline is extended and the person is told why."))
    return _back(request_id)


@staff_view
@require_POST
def refuse(request: HttpRequest, actor: Actor, request_id: int) -> HttpResponse:
    services.refuse_request(
        actor=actor, now=timezone.now(), request_id=request_id, reason=request.POST.get("reason", "")
    )
    messages.success(request, _("The request is refused and the person is told why."))
    return _back(request_id)


@staff_view
@require_POST
def complete(request: HttpRequest, actor: Actor, request_id: int) -> HttpResponse:
    services.complete_request(actor=actor, now=timezone.now(), request_id=request_id)
    messages.success(request, _("The request is completed and the person has the answer."))
    return _back(request_id)


@staff_view
@require_POST
def lift_restriction(request: HttpRequest, actor: Actor, request_id: int) -> HttpResponse:
    waits = services.lift_restriction(actor=actor, now=timezone.now(), request_id=request_id)
    if waits:
        messages.success(request, _("The person is being told by email; the restriction ends once the email has gone."))
    else:
        messages.success(request, _("The person has been told by email, and the restriction is lifted."))
    return _back(request_id)


@staff_view
@require_POST
def confirm_identity(request: HttpRequest, actor: Actor, request_id: int) -> HttpResponse:
    services.confirm_identity(actor=actor, now=timezone.now(), request_id=request_id)
    messages.success(request, _("The identity is confirmed from the signed document."))
    return _back(request_id)


@staff_view
@require_POST
def attach_document(request: HttpRequest, actor: Actor, request_id: int) -> HttpResponse:
    selectors.check_desk(actor)
    upload = request.FILES.get("document")
    if upload is None:
        raise ValidationError(_("Choose a PDF file."), field="document")
    if upload.size is not None and upload.size > services.MAX_DOCUMENT_BYTES:
        raise ValidationError(_("The document is over 10 MiB."), field="document", code="too_large")
    document = services.attach_document(actor=actor, now=timezone.now(), request_id=request_id, content=upload.read())
    messages.success(
        request,
        _("The document is attached. Its signature check: %(result)s.") % {"result": document.get_result_display()},
    )
    return _back(request_id)


@staff_view
@require_POST
def decide_correction(request: HttpRequest, actor: Actor, proposal_id: int) -> HttpResponse:
    proposal = services.decide_correction(
        actor=actor,
        now=timezone.now(),
        proposal_id=proposal_id,
        approve=request.POST.get("decision") == "approve",
        reason=request.POST.get("reason", ""),
    )
    messages.success(request, _("The correction is decided."))
    return _back(proposal.request_id)
