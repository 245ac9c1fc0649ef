"""GDPR art. 14: people whose data we did not get from them are told within a month, or the
exemption the policy claims for the source is recorded (policy §4, §6).

The policy says, per indirect source, ``art14 = "notify"`` or ``"exempt"``
(``tillit.policy.indirect``). Every day (``consent.tasks.send_indirect_notices``):

1. ``record_due`` finds, in one set-based pass over the provenance, each person and indirect
   source not yet handled, and records it: ``exempt`` with the article the policy claims, or
   ``pending`` (the notice is due within a month of ``obtained_at``).
2. Each pending notice is claimed (``claim``: committed as ``sending``, so two workers never both
   send it), re-checked at the moment of sending (the person still exists, has an address;
   erasure removes the row with the person), sent outside any transaction with a Message-ID
   fixed by the row (a retry after a crash sends the same id, which a receiver can
   de-duplicate), and recorded as ``sent`` (``mark_sent``, audited). A claim left by a worker
   that died is taken again after ``LEASE``.

``tillit verify`` reports anyone past the month who was neither told nor exempt.

A sole proprietorship (§6, ``[sole_proprietorships]``) is its owner's personal data: a person
linked to one whose data came from an indirect source (the register) is handled the same way for
that source, from when we had both (``_sole_proprietorship_rows``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, Min, OuterRef, Q

from tillit import policy
from tillit.audit import services as audit
from tillit.consent.models import IndirectNotice
from tillit.core.actors import Actor
from tillit.people.models import Person, Provenance
from tillit.policy import classification
from tillit.policy import indirect as rule

# A claim older than this is taken to have been left by a worker that died.
LEASE = dt.timedelta(hours=1)
BATCH = 1_000


def record_due(*, now: dt.datetime) -> dict[str, int]:
    """Record every person and indirect source not yet handled: ``exempt`` (with the article
    the policy claims) or ``pending``. Set-based and idempotent (a unique person+source)."""
    current = policy.current()
    sources = rule.indirect_sources(current)
    if not sources:
        return {"pending": 0, "exempt": 0}
    handled = IndirectNotice.objects.filter(person_id=OuterRef("person_id"), source=OuterRef("source"))
    rows = (
        Provenance.objects.filter(person__isnull=False, source__in=list(sources), recorded_at__lte=now)
        .values("person_id", "source")
        .annotate(obtained_at=Min("recorded_at"))
        .filter(~Exists(handled))
        .order_by("person_id", "source")
    )
    counts = {"pending": 0, "exempt": 0}
    batch: list[IndirectNotice] = []
    for row in rows.iterator(chunk_size=BATCH):
        source = current.sources[row["source"]]
        exempt = sources[row["source"]] == rule.EXEMPT
        batch.append(
            IndirectNotice(
                person_id=row["person_id"],
                source=row["source"],
                obtained_at=row["obtained_at"],
                status=IndirectNotice.Status.EXEMPT if exempt else IndirectNotice.Status.PENDING,
                exemption=source.exemption.article if exempt and source.exemption else "",
                recorded_at=now,
            )
        )
        counts["exempt" if exempt else "pending"] += 1
        if len(batch) >= BATCH:
            IndirectNotice.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    for person_id, source_key, obtained_at in _sole_proprietorship_rows(current, sources, now=now):
        exempt = sources[source_key] == rule.EXEMPT
        source = current.sources[source_key]
        batch.append(
            IndirectNotice(
                person_id=person_id,
                source=source_key,
                obtained_at=obtained_at,
                status=IndirectNotice.Status.EXEMPT if exempt else IndirectNotice.Status.PENDING,
                exemption=source.exemption.article if exempt and source.exemption else "",
                recorded_at=now,
            )
        )
        counts["exempt" if exempt else "pending"] += 1
    if batch:
        IndirectNotice.objects.bulk_create(batch, ignore_conflicts=True)
    return counts


def _sole_proprietorship_rows(
    current: policy.Policy, sources: dict[str, str], *, now: dt.datetime
) -> list[tuple[int, str, dt.datetime]]:
    """(person, source, obtained_at) for each person linked to a sole proprietorship whose data
    came from an indirect source, not yet handled: obtained when we had both the organisation
    and the person. Few rows (people linked to an ENK), so read in one query each."""
    forms = sorted(current.sole_proprietorships.forms)
    if not forms:
        return []
    found = (
        Provenance.objects.filter(
            organization__organisation_form__in=forms,
            organization__people__isnull=False,
            source__in=list(sources),
            recorded_at__lte=now,
        )
        .values_list("organization__people", "source")
        .annotate(obtained_at=Min("recorded_at"))
        .order_by("organization__people", "source")
    )
    rows = [(person_id, source, obtained_at) for person_id, source, obtained_at in found]
    if not rows:
        return []
    people = {pk for pk, _, _ in rows}
    handled = set(IndirectNotice.objects.filter(person_id__in=people).values_list("person_id", "source"))
    created = dict(Person.objects.filter(pk__in=people).values_list("pk", "created_at"))
    return [
        (person_id, source, max(obtained_at, created.get(person_id) or obtained_at))
        for person_id, source, obtained_at in rows
        if (person_id, source) not in handled
    ]


def due_batch(*, now: dt.datetime, after: int = 0, limit: int = BATCH) -> list[int]:
    """The next notices to send now, by id after ``after``: pending, or claimed by a worker
    that did not finish within ``LEASE``."""
    stale = now - LEASE
    return list(
        IndirectNotice.objects.filter(
            Q(status=IndirectNotice.Status.PENDING) | Q(status=IndirectNotice.Status.SENDING, claimed_at__lt=stale),
            pk__gt=after,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def claim(*, notice_id: int, now: dt.datetime) -> bool:
    """Claim the notice for sending, committed (outside any transaction of the caller's, so
    the claim is visible to every other worker before anything is sent). False when another
    worker has it, or it was sent, or the person was erased."""
    stale = now - LEASE
    claimed = IndirectNotice.objects.filter(
        Q(status=IndirectNotice.Status.PENDING) | Q(status=IndirectNotice.Status.SENDING, claimed_at__lt=stale),
        pk=notice_id,
    ).update(status=IndirectNotice.Status.SENDING, claimed_at=now)
    return claimed == 1


def release(*, notice_id: int) -> None:
    """Give a claim back (the sending failed): the next run tries again."""
    IndirectNotice.objects.filter(pk=notice_id, status=IndirectNotice.Status.SENDING).update(
        status=IndirectNotice.Status.PENDING, claimed_at=None
    )


@dataclass(frozen=True)
class Recipient:
    """What the notice needs, read at the moment of sending (the re-check)."""

    notice_id: int
    person_id: int
    pseudonym: str
    name: str
    email: str
    language: str
    source: str
    obtained_at: dt.datetime
    categories: tuple[str, ...]


def recipient(*, notice_id: int) -> Recipient | None:
    """The claimed notice's recipient, re-checked now: None if the row is gone or no longer
    claimed, or the person has no email address (they cannot be told by email)."""
    row = (
        IndirectNotice.objects.filter(pk=notice_id, status=IndirectNotice.Status.SENDING)
        .values("person_id", "source", "obtained_at")
        .first()
    )
    if row is None:
        return None
    person = Person.objects.filter(pk=row["person_id"]).values("pseudonym", "name", "email", "language").first()
    if person is None or not person["email"]:
        return None
    current = policy.current()
    fields = Provenance.objects.filter(person_id=row["person_id"], source=row["source"]).values_list("field", flat=True)
    categories = []
    for name in sorted(set(fields)):
        category = classification.classify(f"people.Person.{name}") or name
        if category in current.categories and category not in categories:
            categories.append(category)
    if not categories:  # told of a sole proprietorship of theirs (§6): its name and address
        organisation_fields = Provenance.objects.filter(
            organization__people=row["person_id"],
            organization__organisation_form__in=sorted(current.sole_proprietorships.forms),
            source=row["source"],
        ).values_list("field", flat=True)
        for name in sorted(set(organisation_fields)):
            keys = (
                [f"people.Organization.{f}" for f in ("name", "street")]
                if name == "*"
                else [f"people.Organization.{name}"]
            )
            for key in keys:
                category = classification.classify(key) or ""
                if category in current.categories and category not in categories:
                    categories.append(category)
    language = person["language"] if person["language"] in current.languages else current.default_language
    return Recipient(
        notice_id=notice_id,
        person_id=row["person_id"],
        pseudonym=str(person["pseudonym"]),
        name=person["name"],
        email=person["email"],
        language=language,
        source=row["source"],
        obtained_at=row["obtained_at"],
        categories=tuple(categories),
    )


@transaction.atomic
def mark_sent(*, actor: Actor, now: dt.datetime, notice_id: int, language: str) -> bool:
    """Record that the art. 14 notice went out (audited, in the same transaction)."""
    notice = IndirectNotice.objects.select_for_update().filter(pk=notice_id).first()
    if notice is None or notice.status == IndirectNotice.Status.SENT:
        return False
    notice.status = IndirectNotice.Status.SENT
    notice.sent_at = now
    notice.language = language
    notice.save(update_fields=["status", "sent_at", "language"])
    audit.record(
        actor=actor,
        now=now,
        action="art14_notice_sent",
        subject_type="person",
        subject_id=notice.person_id,
        fields=["indirect_notice"],
    )
    return True


def message_id(*, notice_id: int) -> str:
    """The notice's fixed Message-ID: the same on a retry, so a receiver can de-duplicate."""
    from django.conf import settings

    host = settings.TILLIT_PUBLIC_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "tillit"
    return f"<art14-notice-{notice_id}@{host}>"
