"""Writing the breach register (GDPR art. 33-34). Keyword-only, with ``actor`` and ``now``, one
transaction each, audited in it. Only the ``breach_register`` tool's roles may write.

- ``record_incident``: the facts, written once (the register is append-only: a later finding
  is a new incident).
- ``add_update``: information found later (art. 33(4)), appended, never edited.
- ``record_authority_notification``: that the supervisory authority was notified (when, its
  reference), once; after the 72 hours only with the reasons for the delay (art. 33(1)).
- ``record_no_risk``: the documented decision not to notify, because the breach is unlikely
  to result in a risk to people (art. 33(1)), once; the clock then stops.
- ``attach_affected``: the people a question finds (``selectors.people_for``), added in
  chunks of one query each, never twice.
- ``request_notices`` and the claim/re-check/record steps of the art. 34 notice, which
  ``incidents.tasks.send_breach_notices`` runs (house rule 16): each notice is claimed in a
  committed transaction under the person's lock, re-checked at the attempt (an erased person
  has no row left; a person without an address is recorded as unreachable), sent outside any
  transaction with the Message-ID recorded at the claim, and recorded as sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from tillit import policy
from tillit.audit import services as audit
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, NotFoundError, ValidationError
from tillit.incidents import selectors
from tillit.incidents.models import AffectedPerson, Incident, IncidentUpdate
from tillit.people.models import Person
from tillit.policy import breach

CHUNK = 1_000
# A claim older than this was left by a worker that died; the notice is then sent again (same Message-ID).
LEASE = dt.timedelta(hours=1)
TEXT_LIMIT = 5_000
MAX_PEOPLE = 2_000_000_000  # fits the column on every database


def _text(value: str, field: str, *, limit: int = TEXT_LIMIT) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError("is required", field=field)
    if len(value) > limit:
        raise ValidationError(f"must be at most {limit} characters", field=field)
    return value


def record_incident(
    *,
    actor: Actor,
    now: dt.datetime,
    title: str,
    description: str,
    aware_at: dt.datetime,
    categories: Sequence[str],
    approximate_people: int,
    consequences: str,
    measures: str,
    occurred_at: dt.datetime | None = None,
) -> Incident:
    """Record a breach: when we became aware (the 72-hour clock starts there), what happened,
    the categories of data (from the policy), about how many people, the likely consequences
    and the measures taken or proposed."""
    selectors.require_breach_register(actor)
    known = policy.current().categories
    chosen = list(dict.fromkeys(categories))
    if not chosen:
        raise ValidationError("name at least one category of personal data", field="categories")
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise ValidationError(f"unknown category {unknown[0]!r}", field="categories")
    selectors.check_moment(aware_at, "aware_at")
    selectors.check_moment(occurred_at, "occurred_at")
    if aware_at > now:
        raise ValidationError("cannot be in the future", field="aware_at")
    if occurred_at is not None and occurred_at > aware_at:
        raise ValidationError("cannot be after we became aware of it", field="occurred_at")
    if not 0 <= approximate_people <= MAX_PEOPLE:
        raise ValidationError(f"must be between 0 and {MAX_PEOPLE}", field="approximate_people")
    with transaction.atomic():
        incident = Incident.objects.create(
            title=_text(title, "title", limit=200),
            description=_text(description, "description"),
            occurred_at=occurred_at,
            aware_at=aware_at,
            categories=chosen,
            approximate_people=approximate_people,
            consequences=_text(consequences, "consequences"),
            measures=_text(measures, "measures"),
            recorded_at=now,
            recorded_by_id=actor.user_id,
            recorded_by_label=actor.label,
        )
        audit.record(
            actor=actor,
            now=now,
            action="incident_recorded",
            subject_type="incident",
            subject_id=incident.pk,
            fields=["aware_at", "description", "categories", "approximate_people", "consequences", "measures"],
        )
    return incident


def _locked(incident_id: int) -> Incident:
    incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
    if incident is None:
        raise NotFoundError("no such incident", field="incident_id")
    return incident


def add_update(*, actor: Actor, now: dt.datetime, incident_id: int, text: str) -> IncidentUpdate:
    """Append what was found since (art. 33(4): information in phases); the facts recorded
    before stay as they were."""
    selectors.require_breach_register(actor)
    text = _text(text, "text")
    with transaction.atomic():
        incident = _locked(incident_id)
        update = IncidentUpdate.objects.create(
            incident=incident, text=text, recorded_at=now, recorded_by_label=actor.label
        )
        audit.record(
            actor=actor,
            now=now,
            action="incident_updated",
            subject_type="incident",
            subject_id=incident.pk,
            fields=["text"],
        )
    return update


def record_authority_notification(
    *,
    actor: Actor,
    now: dt.datetime,
    incident_id: int,
    notified_at: dt.datetime,
    reference: str,
    late_reason: str = "",
) -> Incident:
    """Record that the supervisory authority was notified (art. 33(1)), once. A notification
    after the 72 hours must give the reasons for the delay."""
    selectors.require_breach_register(actor)
    reference = _text(reference, "reference", limit=100)
    late_reason = (late_reason or "").strip()
    selectors.check_moment(notified_at, "notified_at")
    if notified_at > now:
        raise ValidationError("cannot be in the future", field="notified_at")
    with transaction.atomic():
        incident = _locked(incident_id)
        if incident.authority_notified_at is not None:
            raise ConflictError("the notification to the authority is already recorded", field="notified_at")
        # A decision that no notification is needed may be overtaken: notifying is always allowed.
        if notified_at < incident.aware_at:
            raise ValidationError("cannot be before we became aware of the breach", field="notified_at")
        if breach.is_notification_late(aware_at=incident.aware_at, notified_at=notified_at) and not late_reason:
            raise ValidationError(
                "the notification came after the 72 hours: give the reasons for the delay (art. 33(1))",
                field="late_reason",
            )
        incident.authority_notified_at = notified_at
        incident.authority_reference = reference
        incident.late_reason = _text(late_reason, "late_reason") if late_reason else ""
        incident.notification_recorded_at = now
        incident.save(
            update_fields=["authority_notified_at", "authority_reference", "late_reason", "notification_recorded_at"]
        )
        audit.record(
            actor=actor,
            now=now,
            action="incident_authority_notified",
            subject_type="incident",
            subject_id=incident.pk,
            fields=["authority_notified_at", "authority_reference", *(["late_reason"] if late_reason else [])],
        )
    return incident


def record_no_risk(*, actor: Actor, now: dt.datetime, incident_id: int, reason: str) -> Incident:
    """Document that the breach is unlikely to result in a risk to people's rights and
    freedoms, so the supervisory authority is not notified (art. 33(1)); the reasons are kept
    in the register (art. 33(5)). Once, and not after a notification."""
    selectors.require_breach_register(actor)
    reason = _text(reason, "reason")
    with transaction.atomic():
        incident = _locked(incident_id)
        if incident.authority_notified_at is not None:
            raise ConflictError("the authority has already been notified", field="reason")
        if incident.no_risk_recorded_at is not None:
            raise ConflictError("the decision not to notify is already recorded", field="reason")
        incident.no_risk_reason = reason
        incident.no_risk_recorded_at = now
        incident.save(update_fields=["no_risk_reason", "no_risk_recorded_at"])
        audit.record(
            actor=actor,
            now=now,
            action="incident_no_risk",
            subject_type="incident",
            subject_id=incident.pk,
            fields=["no_risk_reason"],
        )
    return incident


def attach_affected(*, actor: Actor, now: dt.datetime, incident_id: int, question: selectors.Question) -> int:
    """Attach everyone the question finds to the incident; returns how many were new. The
    incident's row lock serialises two attaches to one incident; people already attached are
    skipped (unique per incident and person)."""
    selectors.require_breach_register(actor)
    found_by = selectors.describe(question)
    with transaction.atomic():
        incident = _locked(incident_id)
        people = selectors.people_for(question)
        already = AffectedPerson.objects.filter(incident=incident, person_id__in=people.values("pk")).count()
        added = 0
        ids = people.exclude(pk__in=AffectedPerson.objects.filter(incident=incident).values("person_id"))
        for chunk in _chunks(ids.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=CHUNK)):
            # Lock, then link (house rule 14): the chunk's people in id order, so an erasure
            # that began meanwhile has either taken them (not found here) or waits for this.
            present = list(
                Person.objects.select_for_update().filter(pk__in=chunk).order_by("pk").values_list("pk", flat=True)
            )
            AffectedPerson.objects.bulk_create(
                [AffectedPerson(incident=incident, person_id=pid, found_by=found_by, added_at=now) for pid in present],
                ignore_conflicts=True,
            )
            added += len(present)
        audit.record(
            actor=actor,
            now=now,
            action="incident_affected_added",
            subject_type="incident",
            subject_id=incident.pk,
            fields=[f"people:{added}", f"already:{already}", found_by.partition(":")[0]],
        )
    return added


def _chunks(ids: object) -> list[list[int]]:
    chunks: list[list[int]] = []
    current: list[int] = []
    for pid in ids:  # type: ignore[attr-defined]
        current.append(int(pid))
        if len(current) >= CHUNK:
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


def request_notices(*, actor: Actor, now: dt.datetime, incident_id: int) -> int:
    """Ask for the art. 34 notice to everyone attached who has not been asked for yet (one
    UPDATE); the interface then starts ``incidents.tasks.send_breach_notices``."""
    selectors.require_breach_register(actor)
    with transaction.atomic():
        incident = _locked(incident_id)
        count = AffectedPerson.objects.filter(incident=incident, notice_status=AffectedPerson.NoticeStatus.NONE).update(
            notice_status=AffectedPerson.NoticeStatus.PENDING
        )
        audit.record(
            actor=actor,
            now=now,
            action="incident_notices_requested",
            subject_type="incident",
            subject_id=incident.pk,
            fields=[f"people:{count}"],
        )
    return count


# --- the art. 34 notice: claimed, re-checked, sent, recorded ---------------------------------------


def notice_facts(*, incident_id: int) -> dict[str, Any] | None:
    """What the art. 34 notice says about the breach (art. 34(2)): read by the sending task."""
    facts = Incident.objects.filter(pk=incident_id).values("description", "categories", "consequences", "measures")
    row = facts.first()
    return dict(row) if row is not None else None


def due_notices(*, incident_id: int, now: dt.datetime, after: int = 0, limit: int = CHUNK) -> list[int]:
    """The next notices of the incident to send, by row id after ``after``: asked for, or
    claimed by a worker that did not finish within ``LEASE``."""
    pending = Q(notice_status=AffectedPerson.NoticeStatus.PENDING)
    stale = Q(notice_status=AffectedPerson.NoticeStatus.SENDING, notice_claimed_at__lt=now - LEASE)
    return list(
        AffectedPerson.objects.filter(pending | stale, incident_id=incident_id, pk__gt=after)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


@dataclass(frozen=True)
class NoticeClaim:
    """What one notice needs, read under the person's lock at the moment of the claim."""

    affected_id: int
    incident_id: int
    person_id: int
    name: str
    email: str
    language: str
    message_id: str


def message_id_for(affected_id: int) -> str:
    """The notice's fixed Message-ID: the same on every attempt, so a receiver can de-duplicate."""
    host = settings.TILLIT_PUBLIC_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "tillit"
    return f"<breach-notice-{affected_id}@{host}>"


def claim_notice(*, now: dt.datetime, affected_id: int) -> NoticeClaim | None:
    """Claim one notice, committed before anything is sent: lock the person, then read (house
    rule 14). None when there is nothing to send: the person was erased (their row is gone
    with them), another worker holds it, it was sent, or the person has no email address
    (then recorded as ``unreachable``, so the privacy officer sees who must be told otherwise)."""
    with transaction.atomic():
        person_id = AffectedPerson.objects.filter(pk=affected_id).values_list("person_id", flat=True).first()
        if person_id is None:
            return None
        person = Person.objects.select_for_update().filter(pk=person_id).values("name", "email", "language").first()
        row = AffectedPerson.objects.select_for_update().filter(pk=affected_id).first()
        if person is None or row is None:
            return None  # erased meanwhile
        is_due = row.notice_status == AffectedPerson.NoticeStatus.PENDING or (
            row.notice_status == AffectedPerson.NoticeStatus.SENDING
            and row.notice_claimed_at is not None
            and row.notice_claimed_at < now - LEASE
        )
        if not is_due:
            return None
        if not person["email"]:
            row.notice_status = AffectedPerson.NoticeStatus.UNREACHABLE
            row.save(update_fields=["notice_status"])
            return None
        current = policy.current()
        language = person["language"] if person["language"] in current.languages else current.default_language
        row.notice_status = AffectedPerson.NoticeStatus.SENDING
        row.notice_claimed_at = now
        row.notice_message_id = row.notice_message_id or message_id_for(row.pk)
        row.notice_language = language
        row.save(update_fields=["notice_status", "notice_claimed_at", "notice_message_id", "notice_language"])
    return NoticeClaim(
        affected_id=row.pk,
        incident_id=row.incident_id,
        person_id=person_id,
        name=person["name"],
        email=person["email"],
        language=language,
        message_id=row.notice_message_id,
    )


def release_notice(*, affected_id: int) -> None:
    """Give a claim back (the mail server refused): the next run tries again."""
    AffectedPerson.objects.filter(pk=affected_id, notice_status=AffectedPerson.NoticeStatus.SENDING).update(
        notice_status=AffectedPerson.NoticeStatus.PENDING, notice_claimed_at=None
    )


def record_notice_sent(*, actor: Actor, now: dt.datetime, affected_id: int) -> bool:
    """Record that the notice went out (audited on the person, in the same transaction)."""
    with transaction.atomic():
        row = AffectedPerson.objects.select_for_update().filter(pk=affected_id).first()
        if row is None or row.notice_status == AffectedPerson.NoticeStatus.SENT:
            return False
        row.notice_status = AffectedPerson.NoticeStatus.SENT
        row.notice_sent_at = now
        row.save(update_fields=["notice_status", "notice_sent_at"])
        audit.record(
            actor=actor,
            now=now,
            action="breach_notice_sent",
            subject_type="person",
            subject_id=row.person_id,
            fields=[f"incident:{row.incident_id}"],
        )
    return True
