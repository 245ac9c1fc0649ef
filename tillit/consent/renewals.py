"""Asking once to renew a consent before it lapses (policy §5, ``[consent_lifetime]``).

A consent lasts the policy's months from the later of its giving (or renewal) and the person's
last engagement (``tillit.policy.consent.consent_lapsed``). Every day
(``consent.tasks.ask_to_renew_consents``):

1. ``record_due`` finds, in one set-based query per purpose, everyone whose consent by email
   still counts now but lapses within ``renewal_days_before`` days
   (``tillit.policy.consent.renewal_due``), and records one ``ConsentRenewal`` for that giving.
   The row is unique per giving: we ask once. A renewal is a new giving, so a consent renewed
   and lapsing again two years later is asked about once more.
2. Each due renewal is claimed (``claim``: the person's row locked first, then the rule asked
   again at that moment; committed as ``sending`` so two workers never both send it, or as
   ``skipped`` when the consent was withdrawn, objected to, suppressed, renewed or lapsed
   meanwhile: asking for consent by email is itself marketing, lawful only while the consent
   still counts), sent outside any transaction with a Message-ID fixed by the row, and recorded
   as ``sent`` (``mark_sent``, audited). A claim left by a worker that died is taken again after
   ``LEASE``, and the email then carries the same Message-ID.

The email links to the person's own consent page (the signed link of every email), where
"Keep it" records the consent again (``services.record_consent``, a positive act, with the
exact wording shown). Doing nothing lets it lapse; we do not ask again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery

from tillit import policy
from tillit.audit import services as audit
from tillit.consent import selectors
from tillit.consent.models import ConsentEvent, ConsentRenewal
from tillit.core.actors import Actor
from tillit.people.models import Person
from tillit.policy import consent as rule

# A claim older than this is taken to have been left by a worker that died.
LEASE = dt.timedelta(hours=1)
BATCH = 1_000
CHANNEL = "email"  # the renewal is asked by email, for consents given for email


def renewable_purposes() -> list[str]:
    """The purposes with a lifetime that rest on consent by email."""
    current = policy.current()
    return [p for p in current.consent_lifetime.months if current.purposes[p].bases.get(CHANNEL) == "consent"]


def record_due(*, now: dt.datetime) -> int:
    """Record a renewal for every consent by email that counts now and lapses within the
    policy's ``renewal_days_before`` days, once per giving. Set-based and idempotent."""
    soon = now + dt.timedelta(days=policy.current().consent_lifetime.renewal_days_before)
    recorded = 0
    for purpose in renewable_purposes():
        given_at = Subquery(
            ConsentEvent.objects.filter(person=OuterRef("pk"), purpose=purpose, channel=CHANNEL)
            .order_by("-occurred_at", "-pk")
            .values("occurred_at")[:1]
        )
        asked = ConsentRenewal.objects.filter(
            person=OuterRef("pk"), purpose=purpose, channel=CHANNEL, given_at=OuterRef("given_at")
        )
        rows = (
            selectors.audience(purpose=purpose, channel=CHANNEL, now=now)
            .filter(send_reason="consent")
            .exclude(Q(email__isnull=True) | Q(email=""))
            .exclude(selectors.consent_fresh_q(purpose, CHANNEL, now=soon))
            .annotate(given_at=given_at)
            .filter(~Exists(asked))
            .order_by("pk")
            .values_list("pk", "given_at")
        )
        batch: list[ConsentRenewal] = []
        for person_id, at in rows.iterator(chunk_size=BATCH):
            batch.append(
                ConsentRenewal(
                    person_id=person_id,
                    purpose=purpose,
                    channel=CHANNEL,
                    given_at=at,
                    status=ConsentRenewal.Status.PENDING,
                    recorded_at=now,
                )
            )
            if len(batch) >= BATCH:
                recorded += len(ConsentRenewal.objects.bulk_create(batch, ignore_conflicts=True))
                batch = []
        if batch:
            recorded += len(ConsentRenewal.objects.bulk_create(batch, ignore_conflicts=True))
    return recorded


def due_batch(*, now: dt.datetime, after: int = 0, limit: int = BATCH) -> list[int]:
    """The next renewals to send now, by id after ``after``: pending, or claimed by a worker
    that did not finish within ``LEASE``."""
    return list(
        ConsentRenewal.objects.filter(
            Q(status=ConsentRenewal.Status.PENDING)
            | Q(status=ConsentRenewal.Status.SENDING, claimed_at__lt=now - LEASE),
            pk__gt=after,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


@dataclass(frozen=True)
class Claim:
    """What the email needs, read under the person's lock at the moment of the claim."""

    renewal_id: int
    person_id: int
    pseudonym: str
    name: str
    email: str
    language: str
    purpose: str
    message_id: str


@transaction.atomic
def claim(*, renewal_id: int, now: dt.datetime) -> Claim | None:
    """Claim the renewal for sending and ask the rule again, the person's row locked first
    (lock, then read). None when another worker has it, it was sent or skipped, the person was
    erased, or the consent no longer is what we would ask about (then it is ``skipped``: we
    asked once, or had nothing left to ask). Call outside any transaction: the claim commits
    before anything is sent."""
    row = (
        ConsentRenewal.objects.filter(pk=renewal_id)
        .values("person_id", "purpose", "channel", "given_at", "status", "claimed_at")
        .first()
    )
    if row is None:
        return None
    person = (
        Person.objects.select_for_update()
        .filter(pk=row["person_id"])
        .values("pseudonym", "name", "email", "language")
        .first()
    )
    renewal = ConsentRenewal.objects.select_for_update().filter(pk=renewal_id).first()
    if person is None or renewal is None:
        return None
    stale = renewal.claimed_at is not None and renewal.claimed_at < now - LEASE
    if not (
        renewal.status == ConsentRenewal.Status.PENDING or (renewal.status == ConsentRenewal.Status.SENDING and stale)
    ):
        return None
    current = policy.current()
    facts = selectors.contact_facts(person_id=renewal.person_id)
    decision = rule.may_contact(current, facts, purpose=renewal.purpose, channel=renewal.channel, now=now)
    still_due = (
        bool(person["email"])
        and decision.reason == "consent"
        and facts.consent_given_at.get((renewal.purpose, renewal.channel)) == renewal.given_at
        and rule.renewal_due(current, facts, renewal.purpose, renewal.channel, now)
    )
    if not still_due:
        renewal.status = ConsentRenewal.Status.SKIPPED
        renewal.save(update_fields=["status"])
        return None
    language = person["language"] if person["language"] in current.languages else current.default_language
    renewal.status, renewal.claimed_at = ConsentRenewal.Status.SENDING, now
    renewal.save(update_fields=["status", "claimed_at"])
    return Claim(
        renewal_id=renewal_id,
        person_id=renewal.person_id,
        pseudonym=str(person["pseudonym"]),
        name=person["name"],
        email=str(person["email"]),
        language=language,
        purpose=renewal.purpose,
        message_id=message_id(renewal_id=renewal_id),
    )


def release(*, renewal_id: int) -> None:
    """Give a claim back (the sending failed): the next run tries again."""
    ConsentRenewal.objects.filter(pk=renewal_id, status=ConsentRenewal.Status.SENDING).update(
        status=ConsentRenewal.Status.PENDING, claimed_at=None
    )


@transaction.atomic
def mark_sent(*, actor: Actor, now: dt.datetime, renewal_id: int, language: str) -> bool:
    """Record that the renewal email went out (audited, in the same transaction)."""
    renewal = ConsentRenewal.objects.select_for_update().filter(pk=renewal_id).first()
    if renewal is None or renewal.status == ConsentRenewal.Status.SENT:
        return False
    renewal.status, renewal.sent_at, renewal.language = ConsentRenewal.Status.SENT, now, language
    renewal.save(update_fields=["status", "sent_at", "language"])
    audit.record(
        actor=actor,
        now=now,
        action="consent_renewal_sent",
        subject_type="person",
        subject_id=renewal.person_id,
        purpose=renewal.purpose,
        fields=["consent"],
    )
    return True


def message_id(*, renewal_id: int) -> str:
    """The renewal email's fixed Message-ID: the same on a retry, so a receiver can
    de-duplicate."""
    from django.conf import settings

    host = settings.TILLIT_PUBLIC_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "tillit"
    return f"<consent-renewal-{renewal_id}@{host}>"
