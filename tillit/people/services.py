"""Writes to people and organisations. Each service runs in one transaction, records the
provenance of every field it sets and writes its audit entry in the same transaction.

Services take ``actor``, ``now`` and a ``source`` (a source key from the policy file, §4/§6)
and are keyword-only. Input is validated and normalised before anything is written, so a bad
value never leaves a half-written record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from tillit import policy
from tillit.audit import ledgers
from tillit.audit import services as audit
from tillit.consent import selectors as consent_selectors
from tillit.consent.models import NoticeVersion
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from tillit.core.identifiers import normalise_email, normalise_orgnr, normalise_phone
from tillit.people import dialogues, mail
from tillit.people.models import (
    CustomerRelationship,
    Dialogue,
    Interaction,
    Organization,
    Person,
    ProductInterest,
    Provenance,
    QuarantinedText,
)
from tillit.people.selectors import may_review_quarantine
from tillit.policy import capture as capture_rules
from tillit.policy import purposes as purpose_rules
from tillit.policy import retention as retention_rules
from tillit.policy import sensitive
from tillit.retention import selectors as retention_selectors
from tillit.retention.services import recompute_retention

PERSON_FIELDS = ("name", "email", "phone", "position", "organization_id", "language")
ORGANIZATION_FIELDS = (
    "name",
    "org_number",
    "industry_code",
    "industry_code_version",
    "street",
    "postcode",
    "city",
    "country",
)
# The model field each input updates, for the permission check against the read gate.
_PERSON_MODEL_FIELD = {"organization_id": "organization"}


def _text(value: Any, field: str, *, max_length: int, required: bool = False, multiline: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError("must be text", field=field)
    text = value.strip()
    if required and not text:
        raise ValidationError("is required", field=field)
    if len(text) > max_length:
        raise ValidationError(f"is at most {max_length} characters", field=field)
    allowed = "\t\n\r" if multiline else "\t"
    if any(ord(ch) < 32 and ch not in allowed for ch in text):
        raise ValidationError("must not contain control characters", field=field)
    return text


def _check_source(source: str) -> None:
    if source not in policy.current().sources:
        raise ValidationError(f"unknown source {source!r}", field="source")


def _clean_person(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(PERSON_FIELDS))
    if unknown:
        raise ValidationError("unknown field", field=unknown[0])
    clean: dict[str, Any] = {}
    for field, value in values.items():
        if field == "name":
            clean[field] = _text(value, field, max_length=200, required=True)
        elif field == "email":
            clean[field] = None if value in (None, "") else normalise_email(str(value))
        elif field == "phone":
            clean[field] = "" if value in (None, "") else normalise_phone(str(value))
        elif field == "position":
            clean[field] = _text(value, field, max_length=200)
        elif field == "language":
            languages = policy.current().languages
            if value not in languages:
                raise ValidationError(f"must be one of: {', '.join(languages)}", field=field)
            clean[field] = value
        elif field == "organization_id":
            if value is not None and not Organization.objects.filter(pk=value).exists():
                raise ValidationError("no such organisation", field=field)
            clean[field] = value
    return clean


def _check_may_write(actor: Actor, fields: set[str], purpose: str | None, model_key: str) -> None:
    """A role may write the fields it may read for the purpose it works for (§10)."""
    current = policy.current()
    purposes = (purpose,) if purpose else purpose_rules.purposes_for_role(current, actor.role)
    # System jobs, and the person themselves giving their own data (a form, a chat).
    if actor.kind in ("system", "data_subject"):
        return
    allowed: set[str] = set()
    for p in purposes:
        allowed |= purpose_rules.visible_fields(current, actor.role, p, model_key)
    for field in sorted(fields):
        if field not in allowed:
            raise PermissionDeniedError(f"your role may not change {field!r}", field=field)


def _restricted_for(actor: Actor, purpose: str | None, person_id: int) -> bool:
    """Whether staff may not change the person because their processing is restricted (GDPR
    art. 18(2)) and the policy's ``[restriction]`` lets neither the role nor the purpose touch
    it (the privacy officer correcting contested data may). Such a person looks missing."""
    from tillit.people.restrictions import restricted_ids
    from tillit.policy import restriction as restriction_rule

    if actor.kind in ("system", "data_subject"):
        return False
    if restriction_rule.may_read_restricted(policy.current(), actor.role, purpose or ""):
        return False
    return bool(restricted_ids([person_id]))


def _provenance(**kwargs: Any) -> Provenance:
    return Provenance(**kwargs)


@transaction.atomic
def create_person(
    *, actor: Actor, now: dt.datetime, source: str, values: Mapping[str, Any], purpose: str | None = None
) -> Person:
    """Register a person. ``values`` may hold name (required), email, phone, position,
    organization_id and language. Email is unique: a second person with it is a conflict."""
    _check_source(source)
    clean = _clean_person(values)
    if "name" not in clean:
        raise ValidationError("is required", field="name")
    _check_may_write(actor, {_PERSON_MODEL_FIELD.get(f, f) for f in clean} - {"language"}, purpose, "people.Person")
    clean.setdefault("language", policy.current().default_language)
    # The person is given the notice in force at collection (GDPR art. 13; §14).
    notice = NoticeVersion.objects.order_by("-published_at", "-pk").first()
    person = Person(created_at=now, updated_at=now, notice_version=notice, **clean)
    try:
        with transaction.atomic():
            person.save()
    except IntegrityError:
        raise ConflictError("a person with this email address already exists", field="email") from None
    Provenance.objects.bulk_create(
        [
            _provenance(person=person, field=_PERSON_MODEL_FIELD.get(f, f), source=source, recorded_at=now)
            for f, v in clean.items()
            if v not in (None, "")
        ]
    )
    recompute_retention(person=person, now=now)
    audit.record(
        actor=actor,
        now=now,
        action="create",
        subject_type="person",
        subject_id=person.pk,
        purpose=purpose or "",
        fields=[_PERSON_MODEL_FIELD.get(f, f) for f in clean],
    )
    _note_suppressed(actor=actor, now=now, person=person, purpose=purpose)
    return person


def _note_suppressed(*, actor: Actor, now: dt.datetime, person: Person, purpose: str | None) -> None:
    """A person whose address or number is on the suppression list (they asked to be removed,
    or mail to them bounced) is registered again: never silently. The suppression stays (so
    marketing to them stays blocked), the event is audited with which identifiers matched, and
    every read of the person says so (``people.selectors.marketing_blocked``)."""
    matched = consent_selectors.suppressed_channels(email=person.email, phone=person.phone)
    if matched:
        audit.record(
            actor=actor,
            now=now,
            action="create_suppressed",
            subject_type="person",
            subject_id=person.pk,
            purpose=purpose or "",
            fields=sorted(matched),
        )


@transaction.atomic
def update_person(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    source: str,
    changes: Mapping[str, Any],
    purpose: str | None = None,
) -> Person:
    """Rectify a person (GDPR art. 16). Only the fields given change; each changed field gets a
    new provenance record. The audit entry names the fields, never the old or new values."""
    _check_source(source)
    clean = _clean_person(changes)
    if not clean:
        raise ValidationError("nothing to change", field=None)
    _check_may_write(actor, {_PERSON_MODEL_FIELD.get(f, f) for f in clean} - {"language"}, purpose, "people.Person")
    person = Person.objects.select_for_update().filter(pk=person_id).first()
    if person is None or _restricted_for(actor, purpose, person_id):
        raise NotFoundError("no such person")
    changed = [f for f, v in clean.items() if getattr(person, f) != v]
    if not changed:
        return person
    for field in changed:
        setattr(person, field, clean[field])
    person.updated_at = now
    try:
        with transaction.atomic():
            person.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:
        raise ConflictError("a person with this email address already exists", field="email") from None
    Provenance.objects.bulk_create(
        [
            _provenance(person=person, field=_PERSON_MODEL_FIELD.get(f, f), source=source, recorded_at=now)
            for f in changed
        ]
    )
    audit.record(
        actor=actor,
        now=now,
        action="update",
        subject_type="person",
        subject_id=person.pk,
        purpose=purpose or "",
        fields=[_PERSON_MODEL_FIELD.get(f, f) for f in changed],
    )
    return person


def _clean_organization(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(ORGANIZATION_FIELDS))
    if unknown:
        raise ValidationError("unknown field", field=unknown[0])
    clean: dict[str, Any] = {}
    for field, value in values.items():
        if field == "org_number":
            clean[field] = None if value in (None, "") else normalise_orgnr(str(value))
        elif field == "name":
            clean[field] = _text(value, field, max_length=200, required=True)
        elif field == "country":
            text = _text(value, field, max_length=2).upper()
            if len(text) != 2 or not text.isalpha():
                raise ValidationError("is a two-letter country code (ISO 3166-1)", field=field)
            clean[field] = text
        elif field == "industry_code":
            text = _text(value, field, max_length=10)
            if text and not all(ch.isdigit() or ch == "." for ch in text):
                raise ValidationError("an industry code is digits and dots, like 62.010", field=field)
            clean[field] = text
        else:
            limits = {"industry_code_version": 20, "street": 200, "postcode": 10, "city": 100}
            clean[field] = _text(value, field, max_length=limits[field])
    return clean


@transaction.atomic
def create_organization(
    *, actor: Actor, now: dt.datetime, source: str, values: Mapping[str, Any], purpose: str | None = None
) -> Organization:
    """Register an organisation. The organisation number, when given, is unique."""
    _check_source(source)
    clean = _clean_organization(values)
    if "name" not in clean:
        raise ValidationError("is required", field="name")
    _check_may_write(actor, set(clean) - {"industry_code_version"}, purpose, "people.Organization")
    organization = Organization(created_at=now, updated_at=now, **clean)
    try:
        with transaction.atomic():
            organization.save()
    except IntegrityError:
        raise ConflictError("an organisation with this number already exists", field="org_number") from None
    Provenance.objects.bulk_create(
        [
            _provenance(organization=organization, field=f, source=source, recorded_at=now)
            for f, v in clean.items()
            if v not in (None, "")
        ]
    )
    audit.record(
        actor=actor,
        now=now,
        action="create",
        subject_type="organization",
        subject_id=organization.pk,
        purpose=purpose or "",
        fields=list(clean),
    )
    return organization


@transaction.atomic
def update_organization(
    *,
    actor: Actor,
    now: dt.datetime,
    organization_id: int,
    source: str,
    changes: Mapping[str, Any],
    purpose: str | None = None,
) -> Organization:
    """Change an organisation's fields, with provenance and audit."""
    _check_source(source)
    clean = _clean_organization(changes)
    if not clean:
        raise ValidationError("nothing to change", field=None)
    _check_may_write(actor, set(clean) - {"industry_code_version"}, purpose, "people.Organization")
    organization = Organization.objects.select_for_update().filter(pk=organization_id).first()
    if organization is None:
        raise NotFoundError("no such organisation")
    changed = [f for f, v in clean.items() if getattr(organization, f) != v]
    if not changed:
        return organization
    for field in changed:
        setattr(organization, field, clean[field])
    organization.updated_at = now
    try:
        with transaction.atomic():
            organization.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:
        raise ConflictError("an organisation with this number already exists", field="org_number") from None
    Provenance.objects.bulk_create(
        [_provenance(organization=organization, field=f, source=source, recorded_at=now) for f in changed]
    )
    audit.record(
        actor=actor,
        now=now,
        action="update",
        subject_type="organization",
        subject_id=organization.pk,
        purpose=purpose or "",
        fields=changed,
    )
    return organization


INTERACTION_KINDS = tuple(Interaction.Kind.values)
DIRECTIONS = tuple(Interaction.Direction.values)


# What the timeline shows instead of text the sensitive data guard held back (§16).
HELD_SUBJECT = "[held for review]"
HELD_SUMMARY = "[held for review: possible sensitive data]"
_QUARANTINE_SOURCE = {
    "email": QuarantinedText.Source.EMAIL,
    "call": QuarantinedText.Source.CALL,
    "note": QuarantinedText.Source.NOTE,
    "form": QuarantinedText.Source.FORM,
    "chat": QuarantinedText.Source.CHAT,
}


@dataclass(frozen=True)
class RecordedInteraction:
    """What ``guard_and_record_interaction`` stored: the interaction and, when the sensitive
    data guard held its text back (§16), the quarantine record (the staff member is warned)."""

    interaction: Interaction
    held: QuarantinedText | None = None

    @property
    def quarantined(self) -> bool:
        return self.held is not None


def record_interaction(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    kind: str,
    direction: str,
    occurred_at: dt.datetime | None = None,
    reached: bool = False,
    subject: str = "",
    summary: str = "",
    purpose: str | None = None,
) -> Interaction:
    """Put a contact on the person's timeline; see ``guard_and_record_interaction``, which
    also tells whether the text was held back for review."""
    return guard_and_record_interaction(
        actor=actor,
        now=now,
        person_id=person_id,
        kind=kind,
        direction=direction,
        occurred_at=occurred_at,
        reached=reached,
        subject=subject,
        summary=summary,
        purpose=purpose,
    ).interaction


@transaction.atomic
def guard_and_record_interaction(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    kind: str,
    direction: str,
    occurred_at: dt.datetime | None = None,
    reached: bool = False,
    subject: str = "",
    summary: str = "",
    purpose: str | None = None,
) -> RecordedInteraction:
    """Put a contact on the person's timeline. If it is contact the person took part in (the
    policy decides, §9), it moves the retention clock, in this same transaction.

    The subject and summary pass the sensitive data guard first (§16, GDPR art. 9). On a hit
    the interaction is stored with a neutral placeholder instead (the subject only if the hit
    is in the subject), the original text goes to ``QuarantinedText`` for the privacy officer,
    and an audit entry ``quarantine`` names the kinds found, never the text."""
    if kind not in INTERACTION_KINDS:
        raise ValidationError(f"unknown kind (expected one of: {', '.join(INTERACTION_KINDS)})", field="kind")
    if direction not in DIRECTIONS:
        raise ValidationError(f"unknown direction (expected one of: {', '.join(DIRECTIONS)})", field="direction")
    occurred_at = occurred_at or now
    if occurred_at > now + dt.timedelta(minutes=5):
        raise ValidationError("cannot be in the future", field="occurred_at")
    subject = _text(subject, "subject", max_length=300)
    summary = _text(summary, "summary", max_length=20_000, multiline=True)
    _check_may_write(actor, {"kind", "direction", "occurred_at", "subject", "summary"}, purpose, "people.Interaction")
    person = Person.objects.select_for_update().filter(pk=person_id).first()
    if person is None:
        raise NotFoundError("no such person")
    subject_findings, summary_findings = sensitive.scan(subject), sensitive.scan(summary)
    is_held = bool(subject_findings or summary_findings)
    staff_id = actor.user_id if actor.kind in ("staff", "api_client") else None
    interaction = Interaction.objects.create(
        person=person,
        kind=kind,
        direction=direction,
        reached=reached,
        occurred_at=occurred_at,
        staff_id=staff_id,
        subject=HELD_SUBJECT if subject_findings else subject,
        summary=HELD_SUMMARY if is_held else summary,
    )
    if retention_rules.counts_as_contact(policy.current(), kind=kind, direction=direction, reached=reached) and (
        person.last_contact_at is None or occurred_at > person.last_contact_at
    ):
        person.last_contact_at = occurred_at
        person.save(update_fields=["last_contact_at"])
    recompute_retention(person=person, now=now)
    audit.record(
        actor=actor,
        now=now,
        action="create",
        subject_type="interaction",
        subject_id=interaction.pk,
        purpose=purpose or "",
        fields=["kind", "direction", "occurred_at", "subject", "summary"],
    )
    # A request from the person opens a dialogue with them (policy [dialogues], §7).
    dialogues.record_request(actor=actor, now=now, interaction=interaction)
    if not is_held:
        return RecordedInteraction(interaction)
    held = QuarantinedText.objects.create(
        person=person,
        interaction=interaction,
        source=_QUARANTINE_SOURCE.get(kind, QuarantinedText.Source.OTHER),
        subject=subject,
        text=summary,
        findings=[
            {"field": field, "kind": f.kind, "category": f.category, "start": f.start, "end": f.end}
            for field, found in (("subject", subject_findings), ("summary", summary_findings))
            for f in found
        ],
        created_at=now,
        staff_id=staff_id,
    )
    # The kinds only: a special category next to a person id would itself say too much, and the
    # audit log outlives the person.
    audit.record(
        actor=actor,
        now=now,
        action="quarantine",
        subject_type="interaction",
        subject_id=interaction.pk,
        purpose=purpose or "",
        fields=sensitive.kinds([*subject_findings, *summary_findings]),
    )
    return RecordedInteraction(interaction, held)


@transaction.atomic
def start_customer_relationship(
    *, actor: Actor, now: dt.datetime, person_id: int, started_at: dt.datetime | None = None
) -> CustomerRelationship:
    """The person becomes a customer (§9: no deadline while the relationship is active). A
    person who already has an active relationship keeps it."""
    person = Person.objects.select_for_update().filter(pk=person_id).first()
    if person is None:
        raise NotFoundError("no such person")
    active = CustomerRelationship.objects.filter(person=person, ended_at__isnull=True).first()
    if active is not None:
        return active
    relationship = CustomerRelationship.objects.create(person=person, started_at=started_at or now)
    recompute_retention(person=person, now=now)
    audit.record(
        actor=actor, now=now, action="create", subject_type="customer_relationship", subject_id=relationship.pk
    )
    return relationship


@transaction.atomic
def end_customer_relationship(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    ended_at: dt.datetime | None = None,
    reason: str = CustomerRelationship.EndReason.OTHER,
) -> CustomerRelationship:
    """The customer relationship ends, for ``reason`` (one of ``CustomerRelationship.EndReason``);
    from the end date the dialogue rules apply (§9). Staff need a role that records orders and
    services (customer care, ``tillit.policy.capture.may_record_orders``)."""
    if actor.kind != "system" and not capture_rules.may_record_orders(policy.current(), actor.role):
        raise PermissionDeniedError("your role may not end customer relationships")
    if reason not in CustomerRelationship.EndReason.values:
        raise ValidationError("unknown reason", field="reason")
    person = Person.objects.select_for_update().filter(pk=person_id).first()
    if person is None:
        raise NotFoundError("no such person")
    relationship = CustomerRelationship.objects.filter(person=person, ended_at__isnull=True).first()
    if relationship is None:
        raise ConflictError("the person has no active customer relationship")
    ended_at = ended_at or now
    if ended_at < relationship.started_at:
        raise ValidationError("cannot end before the relationship started", field="ended_at")
    if ended_at > now + dt.timedelta(minutes=5):
        raise ValidationError("cannot be in the future", field="ended_at")
    _close_relationship(
        actor=actor,
        now=now,
        person=person,
        relationship=relationship,
        ended_at=ended_at,
        reason=reason,
        purpose="customer_care" if actor.kind != "system" else "",
    )
    relationship.person = person
    return relationship


def _close_relationship(
    *,
    actor: Actor,
    now: dt.datetime,
    person: Person,
    relationship: CustomerRelationship,
    ended_at: dt.datetime,
    reason: str,
    purpose: str = "",
) -> None:
    """End ``relationship`` at ``ended_at`` for ``reason`` (the person's row is locked by the
    caller), recompute the person's deadline and audit it, in the caller's transaction."""
    relationship.ended_at = ended_at
    relationship.end_reason = reason
    relationship.save(update_fields=["ended_at", "end_reason"])
    recompute_retention(person=person, now=now)
    audit.record(
        actor=actor,
        now=now,
        action="update",
        subject_type="customer_relationship",
        subject_id=relationship.pk,
        purpose=purpose,
        fields=["ended_at", "end_reason"],
    )


def end_lapsed_customer_relationships(*, actor: Actor, now: dt.datetime) -> int:
    """Daily: close every customer relationship that has ended by the rule (§9: no active
    service and no order for ``retention.customer.months_after_last_order`` months), dated the
    day it ended, so every reader (the person page, the existing-customer exception, the
    records of processing) sees it ended. The deadline does not move: the rule already
    counted from that day. Returns how many ended."""
    ended = 0
    for person_id in retention_selectors.lapsed_customer_candidates(now=now):
        ended += end_lapsed_customer_relationship(actor=actor, now=now, person_id=person_id)
    return ended


@transaction.atomic
def end_lapsed_customer_relationship(*, actor: Actor, now: dt.datetime, person_id: int) -> bool:
    """End one person's relationship if it has lapsed by the rule: lock, then read the facts."""
    person = Person.objects.select_for_update().filter(pk=person_id).first()
    if person is None:
        return False
    facts = retention_selectors.retention_facts(person_id=person_id)
    ends_at = retention_rules.customer_relationship_ends_at(policy.current(), facts)
    relationship = CustomerRelationship.objects.filter(person=person, ended_at__isnull=True).first()
    if ends_at is None or ends_at > now or relationship is None:
        return False
    _close_relationship(
        actor=actor,
        now=now,
        person=person,
        relationship=relationship,
        ended_at=max(ends_at, relationship.started_at),
        reason=CustomerRelationship.EndReason.LAPSED,
    )
    return True


# --- the sensitive data guard's quarantine (§16) ---------------------------------------------


def _check_may_review_quarantine(actor: Actor) -> None:
    if not may_review_quarantine(actor):
        raise PermissionDeniedError("only the privacy officer may review text held for sensitive data")


@transaction.atomic
def release_quarantined_text(*, actor: Actor, now: dt.datetime, quarantine_id: int) -> QuarantinedText:
    """A false positive of the sensitive data guard (§16): put the held subject and text back
    on the interaction they belong to. The quarantine keeps who released it and when, and the
    kinds found, but no longer a copy of the text."""
    _check_may_review_quarantine(actor)
    held = QuarantinedText.objects.select_for_update().filter(pk=quarantine_id, released_at__isnull=True).first()
    if held is None:
        raise NotFoundError("no such held text")
    if held.interaction_id is not None:
        Interaction.objects.filter(pk=held.interaction_id).update(subject=held.subject, summary=held.text)
    held.released_at = now
    held.released_by_id = actor.user_id
    held.subject = ""
    held.text = ""
    held.save(update_fields=["released_at", "released_by", "subject", "text"])
    audit.record(
        actor=actor,
        now=now,
        action="release",
        subject_type="quarantined_text",
        subject_id=held.pk,
        fields=["subject", "text"],
    )
    return held


@transaction.atomic
def discard_quarantined_text(*, actor: Actor, now: dt.datetime, quarantine_id: int) -> None:
    """The guard was right (§16: sensitive data is not kept): delete the held text for good.
    The interaction stays on the timeline with its placeholder."""
    _check_may_review_quarantine(actor)
    deleted, _ = QuarantinedText.objects.filter(pk=quarantine_id, released_at__isnull=True).delete()
    if not deleted:
        raise NotFoundError("no such held text")
    audit.record(
        actor=actor,
        now=now,
        action="discard",
        subject_type="quarantined_text",
        subject_id=quarantine_id,
        fields=["subject", "text"],
    )


# --- emails on the timeline (§16) ----------------------------------------------------------


@dataclass(frozen=True)
class EmailResult:
    """What ``record_email_message`` stored: one email interaction per matched person."""

    direction: str
    person_ids: tuple[int, ...]
    interaction_ids: tuple[int, ...]
    unmatched_addresses: int
    quarantined: bool


_INTERACTION_FIELDS = {"kind", "direction", "occurred_at", "subject", "summary"}


@transaction.atomic
def record_email_message(*, actor: Actor, now: dt.datetime, raw: bytes, purpose: str | None = None) -> EmailResult:
    """Put a raw RFC 822 email, as forwarded from a mailbox, on the timeline (§16).

    Outbound when the sender's domain is ours (the controller's, from the policy), otherwise
    inbound. The people it is about are matched by their normalised email address only (never
    by phone or organisation): the sender of an inbound message, the recipients (To, Cc, Bcc)
    of an outbound one. Each gets an email interaction through ``guard_and_record_interaction``,
    so retention (§9: an inbound reply is contact; our own mail is not) and the sensitive data
    guard apply. Subject, body text and the attachments' names are kept, never their content.

    A malformed message, or one that matches nobody, is a ``ValidationError`` on ``message``
    and nothing is stored.

    Locks (DESIGN.md rule 15): every matched person's row is locked first, in one statement,
    in id order, and the audit entries are appended to the chain together at the end
    (``audit.deferred``). So the upload never holds the global chain lock while it waits for a
    person's row (a form submission by the second addressee holds that row and then wants the
    chain lock: a deadlock), and two uploads lock the same people in the same order."""
    _check_may_write(actor, _INTERACTION_FIELDS, purpose, "people.Interaction")
    message = mail.parse_message(raw)
    domains = mail.own_domains(policy.current())
    direction = mail.direction_of(message, domains)
    candidates = (message.sender,) if direction == mail.INBOUND else message.recipients
    addresses = [a for a in dict.fromkeys(candidates) if not mail.is_own_address(a, domains)]
    matched = dict(
        Person.objects.select_for_update().filter(email__in=addresses).order_by("pk").values_list("email", "pk")
    )
    if not matched:
        raise ValidationError("no sender or recipient matches a person in the customer system", field="message")
    occurred_at = min(message.date, now) if message.date is not None else now
    summary = mail.timeline_text(message)
    with audit.deferred():
        recorded = [
            guard_and_record_interaction(
                actor=actor,
                now=now,
                person_id=person_id,
                kind=Interaction.Kind.EMAIL,
                direction=direction,
                occurred_at=occurred_at,
                subject=message.subject,
                summary=summary,
                purpose=purpose,
            )
            for person_id in sorted(matched.values())
        ]
    return EmailResult(
        direction=direction,
        person_ids=tuple(r.interaction.person_id for r in recorded),
        interaction_ids=tuple(r.interaction.pk for r in recorded),
        unmatched_addresses=len(addresses) - len(matched),
        quarantined=any(r.quarantined for r in recorded),
    )


# --- upsert from a form, a chat or an order: dedupe on the normalised email (§4) ---------------

# What an existing person is not silently changed to: a different value offered for a field we
# already hold. The stored value stays; the offer is on the record that brought it (a form's
# answers) and a provenance entry with this detail tells staff to look (GDPR art. 5(1)(d)).
DIFFERING_DETAIL = "a different value was given here; the stored value was kept"
# A product interest a form or a chat can record (an order records what the person has).
INTEREST_STATUSES = tuple(ProductInterest.Status.values)


@dataclass(frozen=True)
class UpsertResult:
    """What ``upsert_person`` did: the person, whether they were new, the fields it filled in
    and the fields where a different value was offered and not applied."""

    person: Person
    created: bool
    filled: tuple[str, ...] = ()
    differing: tuple[str, ...] = ()


def _organization_by_name(*, actor: Actor, now: dt.datetime, source: str, name: str) -> int:
    """The organisation with exactly this name, or a new one (with provenance)."""
    found = Organization.objects.filter(name=name).order_by("pk").values_list("pk", flat=True).first()
    if found is not None:
        return int(found)
    return create_organization(actor=actor, now=now, source=source, values={"name": name}).pk


def upsert_person(
    *,
    actor: Actor,
    now: dt.datetime,
    source: str,
    values: Mapping[str, Any],
    detail: str = "",
    organization_name: str = "",
) -> UpsertResult:
    """Find the person by their normalised email (required) or register them.

    The rule for a person we already hold (§4, GDPR art. 5(1)(d), 16): an empty field is filled
    in (with provenance from ``source``); an equal value changes nothing; a *different* value
    is never applied silently: the stored value stays and a provenance entry records that a
    different value was given (``DIFFERING_DETAIL``), so staff can check and rectify. The
    organisation is matched by its exact name, or registered."""
    # One transaction; inside a caller's (a form submission) no savepoint of its own: a failure
    # here fails the caller's whole action, and the round trips are saved on the hot path.
    with transaction.atomic(savepoint=False):
        return _upsert_person(
            actor=actor, now=now, source=source, values=values, detail=detail, organization_name=organization_name
        )


def _upsert_person(
    *, actor: Actor, now: dt.datetime, source: str, values: Mapping[str, Any], detail: str, organization_name: str
) -> UpsertResult:
    _check_source(source)
    clean = _clean_person(values)
    if not clean.get("email"):
        raise ValidationError("an email address is required", field="email")
    org_name = _text(organization_name, "organisation", max_length=200)
    detail = detail[:200]
    person = Person.objects.select_for_update().filter(email=clean["email"]).first()
    if person is None:
        org_id = _organization_by_name(actor=actor, now=now, source=source, name=org_name) if org_name else None
        try:
            # create_person rolls back to its own savepoint when the address is taken.
            created = create_person(
                actor=actor,
                now=now,
                source=source,
                values={**clean, **({"organization_id": org_id} if org_id else {})},
            )
            return UpsertResult(created, True)
        except ConflictError:
            # Registered by a concurrent request a moment ago: enrich that one instead.
            person = Person.objects.select_for_update().filter(email=clean["email"]).first()
            if person is None:
                raise
    fill: dict[str, Any] = {}
    differing: list[str] = []
    for field, value in clean.items():
        if field in ("email", "language") or value in (None, ""):
            continue
        stored = getattr(person, field)
        if stored in (None, ""):
            fill[field] = value
        elif stored != value:
            differing.append(field)
    if org_name:
        if person.organization_id is None:
            fill["organization_id"] = _organization_by_name(actor=actor, now=now, source=source, name=org_name)
        elif not Organization.objects.filter(pk=person.organization_id, name=org_name).exists():
            differing.append("organization_id")
    if fill:
        for field, value in fill.items():
            setattr(person, field, value)
        person.updated_at = now
        person.save(update_fields=[*fill, "updated_at"])
    rows = [
        _provenance(person=person, field=_PERSON_MODEL_FIELD.get(f, f), source=source, detail=detail, recorded_at=now)
        for f in fill
    ] + [
        _provenance(
            person=person, field=_PERSON_MODEL_FIELD.get(f, f), source=source, detail=DIFFERING_DETAIL, recorded_at=now
        )
        for f in differing
    ]
    if rows:
        Provenance.objects.bulk_create(rows)
    if fill:
        audit.record(
            actor=actor,
            now=now,
            action="update",
            subject_type="person",
            subject_id=person.pk,
            fields=[_PERSON_MODEL_FIELD.get(f, f) for f in fill],
        )
    return UpsertResult(
        person,
        False,
        tuple(_PERSON_MODEL_FIELD.get(f, f) for f in fill),
        tuple(_PERSON_MODEL_FIELD.get(f, f) for f in differing),
    )


@transaction.atomic
def record_product_interests(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    products: list[str],
    status: str = ProductInterest.Status.INTERESTED,
) -> int:
    """Record that the person is interested in (or has) each product (§4). A product already
    recorded keeps its row; "has" upgrades "interested". Returns the number of new rows."""
    if status not in INTEREST_STATUSES:
        raise ValidationError(f"must be one of: {', '.join(INTEREST_STATUSES)}", field="status")
    clean = list(dict.fromkeys(_text(p, "product_interests", max_length=100) for p in products if p))
    if not clean:
        return 0
    _check_may_write(actor, {"product", "status"}, None, "people.ProductInterest")
    existing = set(
        ProductInterest.objects.filter(person_id=person_id, product__in=clean).values_list("product", flat=True)
    )
    created = ProductInterest.objects.bulk_create(
        [
            ProductInterest(person_id=person_id, product=p, status=status, recorded_at=now)
            for p in clean
            if p not in existing
        ]
    )
    if existing and status == ProductInterest.Status.HAS:
        ProductInterest.objects.filter(person_id=person_id, product__in=existing).update(status=status)
    audit.record(
        actor=actor,
        now=now,
        action="create",
        subject_type="product_interest",
        subject_id=person_id,
        fields=["product", "status"],
    )
    return len(created)


# --- merging two records of the same person ---------------------------------------------------

# Ledgers whose rows the database refuses to UPDATE (consent/migrations/0004): a merge copies
# their rows to the kept person (same content, new ids, appended in their original order) and
# deletes the duplicate's, instead of re-pointing them.
APPEND_ONLY_LEDGERS = ("consent.ConsentEvent",)
_MERGE_FILLS = ("phone", "position", "organization_id", "email")


@dataclass(frozen=True)
class MergeResult:
    """What ``merge_people`` did: the person kept, the duplicate removed, the rows moved per
    table, the rows dropped as duplicates of the kept person's, and the fields filled in."""

    kept_id: int
    removed_id: int
    moved: dict[str, int]
    dropped: dict[str, int]
    filled: tuple[str, ...]


def _check_may_merge(actor: Actor) -> None:
    from tillit.policy.capture import may_merge_people

    if actor.kind == "system":
        return
    if not may_merge_people(policy.current(), actor.role):
        raise PermissionDeniedError("your role may not merge people")


def _unique_partners(model: Any, link: str) -> list[list[str]]:
    """The other columns of each unique constraint that includes the link to the person."""
    result = []
    for constraint in model._meta.constraints:
        fields = list(getattr(constraint, "fields", ()) or ())
        if link in fields and getattr(constraint, "condition", None) is None and len(fields) > 1:
            result.append([model._meta.get_field(f).column for f in fields if f != link])
    return result


@transaction.atomic
def merge_people(*, actor: Actor, now: dt.datetime, keep_id: int, duplicate_id: int) -> MergeResult:
    """Merge ``duplicate_id`` into ``keep_id``: two records found to be the same person.

    In one transaction: the kept person's empty fields are filled from the duplicate (phone,
    position, organisation, email); every row linked to the duplicate in any table the
    classification registry links to a person (timeline, provenance, subscriptions, product
    interests, customer relationships, form submissions, orders, ...) moves to the kept
    person, set-based; where a unique constraint would be broken (the same product interest,
    newsletter or notice twice) the kept person's row wins and the duplicate's is dropped; the
    consent ledger is append-only, so its rows are copied (same wording, time, notice version
    and evidence) and the originals go with the duplicate; two active customer relationships
    become the earliest one. The duplicate's person row is then deleted here: this is not an
    erasure (nothing about the person is lost), so no erasure receipt is written; the merge is
    audited on both ids. The kept person's retention is recomputed."""
    from django.apps import apps
    from django.db import connection

    from tillit.policy import classification

    _check_may_merge(actor)
    if keep_id == duplicate_id:
        raise ValidationError("a person cannot be merged with themselves", field="duplicate_id")
    people = {p.pk: p for p in Person.objects.select_for_update().filter(pk__in=[keep_id, duplicate_id]).order_by("pk")}
    keep, duplicate = people.get(keep_id), people.get(duplicate_id)
    if keep is None or duplicate is None:
        raise NotFoundError("no such person")
    filled = [f for f in _MERGE_FILLS if getattr(keep, f) in (None, "") and getattr(duplicate, f) not in (None, "")]
    if "email" in filled:
        Person.objects.filter(pk=duplicate.pk).update(email=None)  # unique: free it first
    for field in filled:
        setattr(keep, field, getattr(duplicate, field))
    if duplicate.last_contact_at and (keep.last_contact_at is None or duplicate.last_contact_at > keep.last_contact_at):
        keep.last_contact_at = duplicate.last_contact_at
    keep.created_at = min(keep.created_at, duplicate.created_at)
    notices = dict(
        NoticeVersion.objects.filter(pk__in=[keep.notice_version_id, duplicate.notice_version_id]).values_list(
            "pk", "published_at"
        )
    )
    if duplicate.notice_version_id and (
        keep.notice_version_id is None or notices[duplicate.notice_version_id] > notices[keep.notice_version_id]
    ):
        keep.notice_version_id = duplicate.notice_version_id
    keep.updated_at = now
    keep.save(update_fields=[*filled, "last_contact_at", "created_at", "notice_version", "updated_at"])

    # One open dialogue per kind: the kept person's stays, the duplicate's of the same kind closes.
    Dialogue.objects.filter(
        person=duplicate,
        closed_at__isnull=True,
        kind__in=Dialogue.objects.filter(person=keep, closed_at__isnull=True).values("kind"),
    ).update(closed_at=now, closed_by_id=actor.user_id)
    moved: dict[str, int] = {}
    dropped: dict[str, int] = {}
    links = [(m, f) for m, f in classification.subject_links()] + [
        (m, f) for m, f, _record in classification.held_links()
    ]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model_key, field_name in links:
            model = apps.get_model(model_key)
            table, column = quote(model._meta.db_table), quote(model._meta.get_field(field_name).column)
            if model_key in APPEND_ONLY_LEDGERS:
                columns = [quote(f.column) for f in model._meta.concrete_fields if not f.primary_key]
                chosen = ", ".join("%s" if c == column else c for c in columns)
                cursor.execute(
                    f"INSERT INTO {table} ({', '.join(columns)}) SELECT {chosen} FROM {table} "  # noqa: S608
                    f"WHERE {column} = %s ORDER BY id",
                    [keep.pk, duplicate.pk],
                )
                copied = cursor.rowcount
                # The copies are sealed after the kept person's entries; the originals get their
                # removal mark, without which the database refuses to delete them.
                ledgers.seal("consent", where={"person_id": keep.pk})
                ledgers.mark_for_removal("consent", scopes=[duplicate.pk], reason="merge", now=now)
                cursor.execute(f"DELETE FROM {table} WHERE {column} = %s", [duplicate.pk])  # noqa: S608
                if copied:
                    moved[model._meta.db_table] = copied
                continue
            for others in _unique_partners(model, field_name):
                same = " AND ".join(f"k.{quote(c)} = {table}.{quote(c)}" for c in others)
                cursor.execute(
                    f"DELETE FROM {table} WHERE {column} = %s AND EXISTS "  # noqa: S608
                    f"(SELECT 1 FROM {table} k WHERE k.{column} = %s AND {same})",
                    [duplicate.pk, keep.pk],
                )
                if cursor.rowcount:
                    dropped[model._meta.db_table] = dropped.get(model._meta.db_table, 0) + cursor.rowcount
            try:
                with transaction.atomic():
                    cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {column} = %s", [keep.pk, duplicate.pk])  # noqa: S608
            except IntegrityError:
                raise ConflictError(
                    f"the two records cannot be merged automatically: both are in {model._meta.verbose_name_plural} "
                    "in a way that may not be doubled; resolve that first"
                ) from None
            if cursor.rowcount:
                moved[model._meta.db_table] = cursor.rowcount
    active = list(CustomerRelationship.objects.filter(person=keep, ended_at__isnull=True).order_by("started_at", "pk"))
    if len(active) > 1:
        CustomerRelationship.objects.filter(pk__in=[r.pk for r in active[1:]]).delete()
        dropped[CustomerRelationship._meta.db_table] = len(active) - 1
    Person.objects.filter(pk=duplicate.pk).delete()
    recompute_retention(person=keep, now=now)
    audit.record(
        actor=actor,
        now=now,
        action="merge",
        subject_type="person",
        subject_id=keep.pk,
        fields=sorted({*(_PERSON_MODEL_FIELD.get(f, f) for f in filled), *(f"table:{t}" for t in moved)}),
    )
    audit.record(
        actor=actor,
        now=now,
        action="merged_into",
        subject_type="person",
        subject_id=duplicate.pk,
        fields=[f"person:{keep.pk}"],
    )
    return MergeResult(keep.pk, duplicate.pk, moved, dropped, tuple(_PERSON_MODEL_FIELD.get(f, f) for f in filled))
