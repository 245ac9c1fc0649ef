"""Reading the breach register (GDPR art. 33(5)) and finding who a breach affected.

Only the roles the policy gives the ``breach_register`` tool (the privacy officer) may use it.
The pages show ids, pseudonymous ids, counts and categories, never a person's data: opening a
person goes through the read gate like everywhere else.

Who is affected is asked of what the system already records, set-based (one query, whatever
the size; the result is a queryset of people, never a Python loop over the log):
- ``read_by_staff``: everyone a staff member (or an API client acting for them) read,
  searched, listed or exported between two moments (the audit log);
- ``in_export``: everyone in one export. An export is identifiable in the audit log: a CSV
  export writes one ``export`` entry per person, all with the same moment, staff member and
  purpose; the export's number is the sequence number of its first entry (``exports`` lists
  them);
- ``disclosed_to_partner``: everyone disclosed to a partner, optionally between two moments
  (the disclosure ledger, through the person's pseudonymous id).
People erased since are simply not found (their rows are gone).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Min, Q, QuerySet

from tillit import policy
from tillit.audit.models import AuditEntry
from tillit.core.actors import Actor
from tillit.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from tillit.core.pagination import Page, check_page
from tillit.incidents.models import AffectedPerson, Incident, IncidentUpdate
from tillit.people.models import Person
from tillit.policy import breach
from tillit.policy import purposes as purpose_rules
from tillit.sharing.models import DisclosedPerson, Partner

TOOL = "breach_register"
# Audit actions by which staff see people: a read, a search result, a call list page, an export.
SEEING_ACTIONS = ("read", "search", "call_list", "export")
EXPORT_ACTION = "export"


def may_use_breach_register(actor: Actor) -> bool:
    return purpose_rules.may_use_tool(policy.current(), actor.role, TOOL)


def require_breach_register(actor: Actor) -> None:
    """Raise ``PermissionDeniedError`` unless the policy gives the role the ``breach_register`` tool."""
    if not may_use_breach_register(actor):
        raise PermissionDeniedError("your role may not use the breach register")


# --- the questions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadByStaff:
    staff_user_id: int
    since: dt.datetime
    until: dt.datetime


@dataclass(frozen=True)
class InExport:
    export_id: int


@dataclass(frozen=True)
class DisclosedToPartner:
    partner_id: int
    since: dt.datetime | None = None
    until: dt.datetime | None = None


Question = ReadByStaff | InExport | DisclosedToPartner


def check_moment(value: dt.datetime | None, field: str) -> None:
    """A moment must say its time zone (a naive one cannot be placed against the log)."""
    if value is not None and value.tzinfo is None:
        raise ValidationError("must include a time zone (e.g. Z or +01:00)", field=field)


def _check_period(since: dt.datetime | None, until: dt.datetime | None) -> None:
    check_moment(since, "since")
    check_moment(until, "until")
    if since is not None and until is not None and since >= until:
        raise ValidationError("the start must be before the end", field="until")


def read_by_staff(*, staff_user_id: int, since: dt.datetime, until: dt.datetime) -> QuerySet[Person]:
    """Everyone the staff member read, searched, listed or exported in [since, until)."""
    _check_period(since, until)
    seen = AuditEntry.objects.filter(
        actor_user_id=staff_user_id,
        subject_type="person",
        action__in=SEEING_ACTIONS,
        at__gte=since,
        at__lt=until,
        subject_id__isnull=False,
    ).values("subject_id")
    return Person.objects.filter(pk__in=seen)


def _export_head(export_id: int) -> dict[str, Any]:
    head = (
        AuditEntry.objects.filter(sequence=export_id, action=EXPORT_ACTION, subject_type="person")
        .values("at", "actor_user_id", "actor_label", "purpose")
        .first()
    )
    if head is None:
        raise NotFoundError("no export with that number in the audit log", field="export_id")
    return dict(head)


def in_export(*, export_id: int) -> QuerySet[Person]:
    """Everyone in the export whose first audit entry has sequence number ``export_id``."""
    head = _export_head(export_id)
    rows = AuditEntry.objects.filter(action=EXPORT_ACTION, subject_type="person", **head).values("subject_id")
    return Person.objects.filter(pk__in=rows)


def disclosed_to_partner(
    *, partner_id: int, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> QuerySet[Person]:
    """Everyone disclosed to the partner (in [since, until) when given), by pseudonymous id."""
    if not Partner.objects.filter(pk=partner_id).exists():
        raise NotFoundError("no such partner", field="partner_id")
    _check_period(since, until)
    condition = Q(disclosure__partner_id=partner_id)
    if since is not None:
        condition &= Q(disclosure__disclosed_at__gte=since)
    if until is not None:
        condition &= Q(disclosure__disclosed_at__lt=until)
    return Person.objects.filter(pseudonym__in=DisclosedPerson.objects.filter(condition).values("pseudonym"))


def people_for(question: Question) -> QuerySet[Person]:
    """The people a question finds (a queryset; nothing is read until it is used)."""
    if isinstance(question, ReadByStaff):
        return read_by_staff(staff_user_id=question.staff_user_id, since=question.since, until=question.until)
    if isinstance(question, InExport):
        return in_export(export_id=question.export_id)
    return disclosed_to_partner(partner_id=question.partner_id, since=question.since, until=question.until)


def _moment(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="minutes") if value is not None else "…"


def describe(question: Question) -> str:
    """How the people were found, without personal data (kept with each affected person)."""
    if isinstance(question, ReadByStaff):
        return f"read_by_staff:{question.staff_user_id} {_moment(question.since)}/{_moment(question.until)}"
    if isinstance(question, InExport):
        return f"export:{question.export_id}"
    return f"partner:{question.partner_id} {_moment(question.since)}/{_moment(question.until)}"


def exports(*, actor: Actor, limit: int = 50) -> list[dict[str, Any]]:
    """The newest exports recorded in the audit log: number, moment, staff member, purpose and
    how many people (one grouped query)."""
    require_breach_register(actor)
    rows = (
        AuditEntry.objects.filter(action=EXPORT_ACTION, subject_type="person")
        .values("at", "actor_user_id", "actor_label", "purpose")
        .annotate(export_id=Min("sequence"), people=Count("id"))
        .order_by("-export_id")[:limit]
    )
    return [dict(row) for row in rows]


def partners(*, actor: Actor) -> list[dict[str, Any]]:
    require_breach_register(actor)
    return [dict(row) for row in Partner.objects.order_by("name").values("id", "name")]


# --- the register ----------------------------------------------------------------------------


def _clock(incident: Incident, now: dt.datetime) -> breach.Clock:
    return breach.clock(
        aware_at=incident.aware_at,
        notified_at=incident.authority_notified_at,
        now=now,
        not_required=incident.no_risk_recorded_at is not None,
    )


def _summary(incident: Incident, now: dt.datetime) -> dict[str, Any]:
    clock = _clock(incident, now)
    return {
        "id": incident.pk,
        "reference": str(incident.reference),
        "title": incident.title,
        "aware_at": incident.aware_at,
        "recorded_at": incident.recorded_at,
        "deadline_at": clock.deadline_at,
        "clock": clock.state,
        "time_left_seconds": int(clock.left.total_seconds()),
        "late_by_seconds": int(clock.late_by.total_seconds()),
        "authority_notified_at": incident.authority_notified_at,
    }


def incidents(*, actor: Actor, now: dt.datetime, page: int = 1, page_size: int = 50) -> Page[dict[str, Any]]:
    """The register, newest awareness first, each with its clock at ``now``."""
    require_breach_register(actor)
    offset, limit = check_page(page, page_size)
    rows = list(Incident.objects.order_by("-aware_at", "-pk")[offset : offset + limit + 1])
    return Page(items=[_summary(i, now) for i in rows[:limit]], page=page, page_size=limit, has_next=len(rows) > limit)


def _get(incident_id: int) -> Incident:
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        raise NotFoundError("no such incident", field="incident_id")
    return incident


def incident(*, actor: Actor, now: dt.datetime, incident_id: int) -> dict[str, Any]:
    """One incident: its facts, its clock at ``now``, the notification, and the affected set
    (how many, how many told)."""
    require_breach_register(actor)
    found = _get(incident_id)
    counts = dict(
        AffectedPerson.objects.filter(incident=found)
        .values("notice_status")
        .annotate(n=Count("id"))
        .values_list("notice_status", "n")
    )
    return {
        **_summary(found, now),
        "description": found.description,
        "occurred_at": found.occurred_at,
        "categories": list(found.categories),
        "approximate_people": found.approximate_people,
        "consequences": found.consequences,
        "measures": found.measures,
        "recorded_by": found.recorded_by_label,
        "authority_reference": found.authority_reference,
        "late_reason": found.late_reason,
        "no_risk_reason": found.no_risk_reason,
        "no_risk_recorded_at": found.no_risk_recorded_at,
        "is_late": _clock(found, now).is_late,
        "updates": [
            {"text": u["text"], "recorded_at": u["recorded_at"], "recorded_by": u["recorded_by_label"]}
            for u in IncidentUpdate.objects.filter(incident=found)
            .order_by("recorded_at", "pk")
            .values("text", "recorded_at", "recorded_by_label")
        ],
        "affected": sum(counts.values()),
        "notices": {status or "none": n for status, n in counts.items()},
    }


def affected(*, actor: Actor, incident_id: int, page: int = 1, page_size: int = 100) -> Page[dict[str, Any]]:
    """The people attached to an incident, by id and pseudonymous id (no personal data), with
    how each was found and where their notice stands."""
    require_breach_register(actor)
    _get(incident_id)
    offset, limit = check_page(page, page_size)
    rows = list(
        AffectedPerson.objects.filter(incident_id=incident_id)
        .order_by("person_id")
        .values(
            "person_id",
            "person__pseudonym",
            "found_by",
            "added_at",
            "notice_status",
            "notice_sent_at",
            "notice_message_id",
        )[offset : offset + limit + 1]
    )
    items = [
        {
            "person_id": r["person_id"],
            "pseudonym": str(r["person__pseudonym"]),
            "found_by": r["found_by"],
            "added_at": r["added_at"],
            "notice_status": r["notice_status"] or "none",
            "notice_sent_at": r["notice_sent_at"],
            "notice_message_id": r["notice_message_id"],
        }
        for r in rows[:limit]
    ]
    return Page(items=items, page=page, page_size=limit, has_next=len(rows) > limit)


def report(*, actor: Actor, now: dt.datetime, incident_id: int, language: str) -> dict[str, Any]:
    """The notification to the supervisory authority, with the contents of art. 33(3):
    (a) the nature of the breach, the categories and approximate number of people and of
    records concerned; (b) the contact point; (c) the likely consequences; (d) the measures
    taken or proposed; and, for a late one, the reasons for the delay (art. 33(1))."""
    detail = incident(actor=actor, now=now, incident_id=incident_id)
    current = policy.current()
    language = language if language in current.languages else current.default_language

    def label(key: str) -> str:
        category = current.categories.get(key)
        return str(category.label.get(language, category.label["en"])) if category else key

    return {
        **detail,
        "category_labels": [label(key) for key in detail["categories"]],
        "controller": current.controller,
        "authority": current.supervisory_authority,
        "generated_at": now,
    }
