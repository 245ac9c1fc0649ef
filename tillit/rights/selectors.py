"""Reads of the rights app: the request desk (privacy officer) and the lookups the services need.

The desk shows requests, their deadlines and history; it shows no personal data of the person
beyond what the request itself holds while open (the proposed correction, the signer of an
attached document). To see the person, the privacy officer opens them through the read gate
(``people.selectors.get_person`` with the purpose ``data_subject_rights``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.apps import apps
from django.db.models import Exists, OuterRef, Q

from tillit import policy
from tillit.audit import services as audit
from tillit.core.actors import Actor
from tillit.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from tillit.core.pagination import Page, check_page
from tillit.people.models import CustomerRelationship, Person
from tillit.policy import classification
from tillit.policy import purposes as purpose_rules
from tillit.policy import rights as rule
from tillit.rights.models import DataSubjectRequest

DESK_TOOL = "request_desk"
OPEN_STATUSES = ("received", "awaiting_verification", "verified", "in_progress")
FILTERS = ("open", "attention", "closed", "all")


def pseudonym_for_email(email: str) -> uuid.UUID | None:
    """The pseudonym of the person we hold with this (normalised) address, if any."""
    return Person.objects.filter(email=email).values_list("pseudonym", flat=True).first()


def person_id_for(pseudonym: uuid.UUID | None) -> int | None:
    if pseudonym is None:
        return None
    return Person.objects.filter(pseudonym=pseudonym).values_list("pk", flat=True).first()


def contact_for_pseudonym(pseudonym: uuid.UUID | None) -> dict[str, Any] | None:
    """Where to write to the person a request is about (the address we hold), or None."""
    if pseudonym is None:
        return None
    row = Person.objects.filter(pseudonym=pseudonym).values("pk", "pseudonym", "email", "language").first()
    return dict(row) if row is not None else None


def subject_facts(pseudonym: uuid.UUID | None) -> dict[str, Any] | None:
    """What completing a request needs to know about the person it is about, in one query:
    ``pk``, ``email``, ``language``, ``is_active_customer`` and ``was_customer``; None when we
    hold nobody with that pseudonym."""
    if pseudonym is None:
        return None
    relationships = CustomerRelationship.objects.filter(person_id=OuterRef("pk"))
    row = (
        Person.objects.filter(pseudonym=pseudonym)
        .annotate(
            is_active_customer=Exists(relationships.filter(ended_at__isnull=True)),
            was_customer=Exists(relationships),
        )
        .values("pk", "email", "language", "is_active_customer", "was_customer")
        .first()
    )
    return dict(row) if row is not None else None


def contact_for_person(person_id: int) -> dict[str, Any] | None:
    row = Person.objects.filter(pk=person_id).values("pk", "pseudonym", "email", "language").first()
    return dict(row) if row is not None else None


def objection_purposes(language: str) -> list[tuple[str, str]]:
    """The purposes a person may object to under art. 21(1), with their names in ``language``."""
    current = policy.current()
    return [
        (key, current.purposes[key].label.get(language, current.purposes[key].label["en"]))
        for key in rule.balancing_purposes(current)
    ]


def erased_categories(counts: dict[str, int]) -> list[str]:
    """The data categories of the policy held in the tables an erasure deleted rows from."""
    tables = {table for table, n in counts.items() if n}
    found: set[str] = set()
    for model in apps.get_models():
        if model._meta.db_table in tables:
            found.update(classification.personal_fields(f"{model._meta.app_label}.{model.__name__}").values())
    order = list(policy.current().categories)
    return sorted(found & set(order), key=order.index)


def check_desk(actor: Actor) -> None:
    """Raises PermissionDeniedError unless the actor's role has the request desk tool."""
    if not purpose_rules.may_use_tool(policy.current(), actor.role, DESK_TOOL):
        raise PermissionDeniedError("your role may not use the request desk")


def _row(request: DataSubjectRequest, now: dt.datetime) -> dict[str, Any]:
    due = request.extended_until or request.due_on
    is_open = request.status in OPEN_STATUSES
    return {
        "id": request.pk,
        "reference": str(request.reference),
        "kind": request.kind,
        "status": request.status,
        "channel": request.channel,
        "language": request.language,
        "received_at": request.received_at,
        "due_on": request.due_on,
        "extended_until": request.extended_until,
        "deadline": due,
        "deadline_state": rule.deadline_state(due=due, now=now, is_open=is_open),
        "is_matched": request.person_pseudonym is not None,
        "staff_step_reason": request.staff_step_reason,
        "verified_at": request.verified_at,
        "closed_at": request.closed_at,
    }


def desk_requests(
    *, actor: Actor, now: dt.datetime, which: str = "open", page: int = 1, page_size: int = 50
) -> Page[dict[str, Any]]:
    """Requests for the desk, the oldest deadline first. ``open`` hides requests for
    addresses we do not hold (they get no link and expire by themselves); ``attention`` is
    open requests that are overdue, due within 7 days or waiting for a staff step."""
    check_desk(actor)
    if which not in FILTERS:
        raise ValidationError(f"must be one of: {', '.join(FILTERS)}", field="which")
    offset, limit = check_page(page, page_size)
    query = DataSubjectRequest.objects.all()
    if which in ("open", "attention"):
        query = query.filter(status__in=OPEN_STATUSES, person_pseudonym__isnull=False)
    elif which == "closed":
        query = query.exclude(status__in=OPEN_STATUSES)
    if which == "attention":
        soon = rule.local_day(now) + dt.timedelta(days=rule.DUE_SOON_DAYS)
        query = query.filter(
            Q(status="in_progress")
            | Q(status="verified")
            | Q(due_on__lte=soon, extended_until__isnull=True)
            | Q(extended_until__lte=soon)
        )
    ordering = ("due_on", "pk") if which in ("open", "attention") else ("-received_at", "-pk")
    rows = list(query.order_by(*ordering)[offset : offset + limit + 1])
    audit.record(actor=actor, now=now, action="rights_desk_list", subject_type="rights_request", subject_id=None)
    return Page(items=[_row(r, now) for r in rows[:limit]], page=page, page_size=page_size, has_next=len(rows) > limit)


def _restriction(request: DataSubjectRequest) -> dict[str, Any] | None:
    """For a restriction request: the restriction of the person in force now (since, grounds,
    whether a lift waits for the email to the person), or None."""
    if request.kind != DataSubjectRequest.Kind.RESTRICTION:
        return None
    from tillit.people.restrictions import restriction_in_force

    person_id = person_id_for(request.person_pseudonym)
    found = restriction_in_force(person_id=person_id) if person_id is not None else None
    if found is None:
        return None
    return {"since": found.restricted_at, "grounds": found.grounds, "lift_requested_at": found.lift_requested_at}


def desk_request(*, actor: Actor, now: dt.datetime, request_id: int) -> dict[str, Any]:
    """One request with its full history, its corrections and documents (audited as a read)."""
    check_desk(actor)
    request = DataSubjectRequest.objects.filter(pk=request_id).first()
    if request is None:
        raise NotFoundError("no such request")
    audit.record(
        actor=actor,
        now=now,
        action="read",
        subject_type="rights_request",
        subject_id=request.pk,
        purpose="data_subject_rights",
    )
    return {
        **_row(request, now),
        "person_id": person_id_for(request.person_pseudonym),
        "details": request.details,
        "objection_purpose": request.objection_purpose,
        "restriction_grounds": request.restriction_grounds,
        "restriction": _restriction(request),
        "extension_reason": request.extension_reason,
        "refusal_reason": request.refusal_reason,
        "verification_method": request.verification_method,
        "verification_sent_at": request.verification_sent_at,
        "outcome": request.outcome,
        "erasure_receipt_id": request.erasure_receipt_id,
        "may_extend": request.extended_until is None
        and request.status in OPEN_STATUSES
        and rule.local_day(now) <= request.due_on,
        "events": [
            {"kind": e.kind, "at": e.at, "actor": e.actor_label, "note": e.note}
            for e in request.events.order_by("at", "pk")
        ],
        "corrections": [
            {
                "id": c.pk,
                "field": c.field,
                "proposed_value": c.proposed_value,
                "status": c.status,
                "decided_at": c.decided_at,
                "reason": c.decision_reason,
            }
            for c in request.corrections.order_by("pk")
        ],
        "documents": [
            {
                "id": d.pk,
                "uploaded_at": d.uploaded_at,
                "size": d.size,
                "sha256": d.sha256,
                "result": d.result,
                "signer_subject": d.signer_subject,
                "signed_at": d.signed_at,
                "is_trusted": d.is_trusted,
            }
            for d in request.documents.order_by("pk")
        ],
    }
