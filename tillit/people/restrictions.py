"""Restriction of processing (GDPR art. 18; policy §13): a state on the person.

- ``restrict_processing``: the person's data is from now on only stored (a rights request
  that was verified, or the privacy officer on a phone or letter request);
- ``request_lift``: the privacy officer decides to lift it; the person must be told first
  (art. 18(3)), so this only writes the email (its Message-ID fixed) and the lift waits;
- ``send_lift_notice``: the email is claimed in a committed transaction, re-checked, sent with
  no transaction open, and only then does the lift take effect (DESIGN rule 16). A worker that
  dies after sending leaves the claim; the email goes again once it lapsed, with the same
  Message-ID, so the receiver can de-duplicate it.

Who is restricted is read as a condition on people (``restricted_q``) by the audience query
(campaigns, call lists), the read gate and the disclosure facts; the rule of who may still read
them is ``tillit.policy.restriction``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, make_msgid
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format

from tillit import policy
from tillit.audit import services as audit
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, NotFoundError, ValidationError
from tillit.people.models import Person, Restriction
from tillit.policy import restriction as rule

PURPOSE = "data_subject_rights"
# How long a claimed lift notice is held by the worker sending it; after a failed send it is
# tried again after ``LIFT_RETRY``.
LIFT_LEASE = dt.timedelta(minutes=10)
LIFT_RETRY = dt.timedelta(minutes=15)


# --- reads -----------------------------------------------------------------------------------


def restricted_q(person: str = "pk") -> Q:
    """A condition on people (or on rows whose ``person`` names them): processing restricted now."""
    return Q(Exists(Restriction.objects.filter(person=OuterRef(person), lifted_at__isnull=True)))


def held_by_restriction_q() -> Q:
    """A condition on people: a restriction in force whose grounds keep the data past the
    retention deadline (``tillit.policy.restriction.HOLDS_DATA``)."""
    return Q(
        Exists(
            Restriction.objects.filter(
                person=OuterRef("pk"), lifted_at__isnull=True, grounds__in=sorted(rule.HOLDS_DATA)
            )
        )
    )


def restricted_ids(person_ids: list[int]) -> set[int]:
    """Which of ``person_ids`` are restricted now (one query)."""
    return set(
        Restriction.objects.filter(person_id__in=person_ids, lifted_at__isnull=True).values_list("person_id", flat=True)
    )


def restriction_in_force(*, person_id: int) -> Restriction | None:
    """The person's restriction in force, if any."""
    return Restriction.objects.filter(person_id=person_id, lifted_at__isnull=True).first()


def restriction_history(*, person_id: int) -> list[dict[str, Any]]:
    """Every restriction of the person, oldest first: grounds, the article, since, and whether
    and when it was lifted (or a lift is waiting for the email to the person)."""
    return [
        {
            "grounds": r.grounds,
            "article": rule.ARTICLE.get(r.grounds, ""),
            "restricted_at": r.restricted_at,
            "lift_requested_at": r.lift_requested_at,
            "lifted_at": r.lifted_at,
        }
        for r in Restriction.objects.filter(person_id=person_id).order_by("restricted_at", "pk")
    ]


# --- writes ----------------------------------------------------------------------------------


def _locked_person(person_id: int) -> Person:
    person = Person.objects.select_for_update().filter(pk=person_id).first()
    if person is None:
        raise NotFoundError("no such person")
    return person


def _audit(actor: Actor, now: dt.datetime, action: str, person_id: int, grounds: str) -> None:
    audit.record(
        actor=actor,
        now=now,
        action=action,
        subject_type="person",
        subject_id=person_id,
        purpose=PURPOSE,
        fields=[f"restriction:{grounds}"],
    )


def restrict_processing(
    *, actor: Actor, now: dt.datetime, person_id: int, grounds: str, request_reference: str | None = None
) -> tuple[Restriction, bool]:
    """Restrict the processing of the person's data on ``grounds`` (art. 18(1)(a)-(d)).
    Returns the restriction in force and whether it started now (False: one was already in
    force; it stays as it is, and a lift waiting for its email is called off, since the person
    asks again)."""
    if grounds not in rule.GROUNDS:
        raise ValidationError("choose why the processing should be restricted", field="restriction_grounds")
    with transaction.atomic():
        person = _locked_person(person_id)
        found = Restriction.objects.filter(person=person, lifted_at__isnull=True).first()
        if found is not None:
            if found.lift_requested_at is not None and found.lift_notified_at is None:
                found.lift_requested_at = None
                found.lift_message_id = ""
                found.lift_claimed_until = None
                found.save(update_fields=["lift_requested_at", "lift_message_id", "lift_claimed_until"])
                _audit(actor, now, "restriction_lift_called_off", person.pk, found.grounds)
            return found, False
        restriction = Restriction.objects.create(
            person=person,
            grounds=grounds,
            restricted_at=now,
            request_reference=uuid.UUID(request_reference) if request_reference else None,
        )
        _audit(actor, now, "restriction_started", person.pk, grounds)
    return restriction, True


def request_lift(*, actor: Actor, now: dt.datetime, person_id: int) -> Restriction:
    """Decide to lift the person's restriction. Art. 18(3): the person is told before the
    lift, so this writes the email (Message-ID fixed now) and the restriction stays in force
    until ``send_lift_notice`` has sent it. Asking twice changes nothing. Refused (409) when no
    restriction is in force, or when we hold no address to tell the person at."""
    with transaction.atomic():
        person = _locked_person(person_id)
        found = Restriction.objects.select_for_update().filter(person=person, lifted_at__isnull=True).first()
        if found is None:
            raise ConflictError("the processing of this person's data is not restricted", code="not_restricted")
        if found.lift_requested_at is not None:
            return found
        if not person.email:
            raise ConflictError(
                "we hold no email address to tell the person before the lift (GDPR art. 18(3))", code="no_address"
            )
        domain = str(settings.DEFAULT_FROM_EMAIL or "").rpartition("@")[2].strip(" >") or None
        found.lift_requested_at = now
        found.lift_message_id = make_msgid(domain=domain)
        found.lift_language = person.language
        found.save(update_fields=["lift_requested_at", "lift_message_id", "lift_language"])
        _audit(actor, now, "restriction_lift_requested", person.pk, found.grounds)
    return found


def _lift_message(restriction: Restriction, email: str) -> EmailMessage:
    current = policy.current()
    language = restriction.lift_language if restriction.lift_language in current.languages else "en"
    with translation.override(language):
        context = {
            "controller": current.controller,
            "since": date_format(timezone.localtime(restriction.restricted_at).date(), "DATE_FORMAT"),
            "article": rule.ARTICLE.get(restriction.grounds, "18"),
        }
        subject = render_to_string("people/email/restriction_lifted_subject.txt", context).strip()
        body = render_to_string("people/email/restriction_lifted.txt", context)
    message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[email])
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    message.extra_headers["Message-ID"] = restriction.lift_message_id
    return message


def send_lift_notice(*, now: dt.datetime, restriction_id: int) -> bool:
    """Tell the person the restriction is being lifted, then lift it (art. 18(3)). Claimed in
    a committed transaction (no other worker sends it meanwhile) and re-checked there (still
    waiting, not called off, an address to send to); sent with no transaction open; the lift
    is recorded after the send, with its audit entry. Returns whether it was sent now."""
    with transaction.atomic():
        row = Restriction.objects.select_for_update().filter(pk=restriction_id).first()
        if row is None or row.lifted_at is not None or row.lift_requested_at is None or not row.lift_message_id:
            return False
        if row.lift_claimed_until is not None and row.lift_claimed_until > now:
            return False
        email = Person.objects.filter(pk=row.person_id).values_list("email", flat=True).first()
        if not email:
            return False
        row.lift_attempts += 1
        row.lift_claimed_until = now + LIFT_LEASE
        row.save(update_fields=["lift_attempts", "lift_claimed_until"])
    message = _lift_message(row, email)
    try:
        message.send()
    except OSError as error:
        Restriction.objects.filter(pk=restriction_id, lifted_at=None).update(
            lift_claimed_until=now + LIFT_RETRY,
            lift_last_error=f"the mail server refused it ({type(error).__name__})",
        )
        return False
    with transaction.atomic():
        updated = Restriction.objects.filter(
            pk=restriction_id, lifted_at=None, lift_message_id=row.lift_message_id
        ).update(lift_notified_at=now, lifted_at=now, lift_claimed_until=None, lift_last_error="")
        if updated:
            _audit(Actor.system("restriction-lift"), now, "restriction_lifted", row.person_id, row.grounds)
    return True


def due_lift_notices(*, now: dt.datetime) -> list[int]:
    """The lift notices waiting to go whose claim (if any) has lapsed."""
    return list(
        Restriction.objects.filter(lifted_at=None, lift_requested_at__isnull=False)
        .exclude(lift_message_id="")
        .filter(Q(lift_claimed_until=None) | Q(lift_claimed_until__lte=now))
        .values_list("pk", flat=True)[:1000]
    )


def send_due_lift_notices(*, now: dt.datetime) -> int:
    """Send every lift notice due (a task lost with a crashed process, a worker that died);
    returns how many went."""
    return sum(send_lift_notice(now=now, restriction_id=pk) for pk in due_lift_notices(now=now))
