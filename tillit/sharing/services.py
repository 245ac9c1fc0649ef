"""Writes for sharing (policy §11, §12; GDPR art. 19, 28). ``disclose`` is the only path by
which personal data leaves for a partner; there is no code path that sells it (§11).

- Partners are registered with their contact point, agreement and channel (an HTTPS endpoint,
  HMAC-signed, or email); processors come from the policy, only their channel is entered here.
- A dialogue (sales or customer) links people, us and a partner; it is open or closed.
- ``disclose`` asks the rule (``tillit.policy.disclosure``) for every person, refuses the whole
  request if anyone or anything is not allowed (nothing sent, nothing written), and otherwise
  writes the disclosure ledger and the audit in one transaction, then hands the data over: a
  CSV or JSON file, or a delivery to the partner's endpoint, retried with backoff and marked
  delivered only on a 2xx answer.
- ``queue_art19_notices`` finds the corrections and erasures of disclosed people (and the
  erasure notices retention writes for processors) and turns them into notices, delivered
  through each recipient's channel and retried until acknowledged.

Services are keyword-only, take ``actor`` and ``now``, run in one transaction and audit.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q

from tillit import policy
from tillit.audit import ledgers
from tillit.audit import services as audit
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from tillit.core.identifiers import normalise_email, normalise_orgnr
from tillit.core.tokens import make_token, read_token
from tillit.people import dialogues as people_dialogues
from tillit.people import selectors as people_selectors
from tillit.people.models import Person, Provenance
from tillit.policy import classification
from tillit.policy import disclosure as rule
from tillit.policy import purposes as purpose_rules
from tillit.policy.assessments import PARTNER_ROLES, partner_role_problem
from tillit.retention.models import ErasureNotice, ErasureReceipt
from tillit.sharing import payloads, selectors, transport
from tillit.sharing.models import (
    Delivery,
    Dialogue,
    DialogueMember,
    DisclosedPerson,
    Disclosure,
    Event,
    NoticeItem,
    NoticeScan,
    Partner,
    ProcessorChannel,
    RecipientNotice,
)

MAX_PEOPLE_PER_DISCLOSURE = 10_000
# Deliveries to an endpoint: retried with exponential backoff (1 min, 2, 4 ... at most 6 h
# apart), then given up as failed after this many attempts (staff may retry).
DELIVERY_ATTEMPTS = 10
DELIVERY_MAX_WAIT = dt.timedelta(hours=6)
# How long one attempt holds a delivery (its HTTP call gives up far sooner): a worker that died
# mid-attempt is presumed dead after it, and the delivery is due again.
DELIVERY_LEASE = dt.timedelta(minutes=5)
# Notices are retried until acknowledged (never given up), at most a day apart.
NOTICE_MAX_WAIT = dt.timedelta(hours=24)
FIRST_WAIT = dt.timedelta(minutes=1)
ACK_USE = "sharing.notice-ack"
ACK_MAX_AGE_SECONDS = 180 * 24 * 3600


def backoff(attempts: int, *, cap: dt.timedelta) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: 1 min, 2, 4, 8 ... up to ``cap``."""
    return min(FIRST_WAIT * (2 ** max(0, min(attempts - 1, 20))), cap)


def _text(value: Any, field: str, *, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError("must be text", field=field)
    text = value.strip()
    if required and not text:
        raise ValidationError("is required", field=field)
    if len(text) > max_length:
        raise ValidationError(f"is at most {max_length} characters", field=field)
    if any(ord(ch) < 32 for ch in text):
        raise ValidationError("must not contain control characters", field=field)
    return text


def _check_manager(actor: Actor) -> None:
    if actor.kind != "system" and not selectors.may_manage_partners(actor):
        raise PermissionDeniedError("your role may not register partners or processors")


# --- partners and processors (§11, §12) ---------------------------------------------------------


PARTNER_FIELDS = (
    "key",
    "name",
    "org_number",
    "contact_email",
    "endpoint_url",
    "agreement_reference",
    "agreement_dated",
    "role",
)


def _clean_partner(values: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    unknown = sorted(set(values) - set(PARTNER_FIELDS))
    if unknown:
        raise ValidationError("unknown field", field=unknown[0])
    clean: dict[str, Any] = {}
    for field, value in values.items():
        if field == "key":
            text = _text(value, field, max_length=60, required=True).lower()
            if not all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in text):
                raise ValidationError("letters, digits, - and _ only", field=field)
            clean[field] = text
        elif field == "name":
            clean[field] = _text(value, field, max_length=200, required=True)
        elif field == "org_number":
            clean[field] = "" if value in (None, "") else normalise_orgnr(str(value), field=field)
        elif field == "contact_email":
            clean[field] = normalise_email(str(value or ""), field=field)
        elif field == "endpoint_url":
            clean[field] = transport.check_endpoint(str(value or ""), field=field)
        elif field == "agreement_reference":
            clean[field] = _text(value, field, max_length=200, required=True)
        elif field == "agreement_dated":
            if isinstance(value, str):
                try:
                    value = dt.date.fromisoformat(value)
                except ValueError:
                    raise ValidationError("a date like 2026-01-15", field=field) from None
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                raise ValidationError("a date like 2026-01-15", field=field)
            clean[field] = value
        elif field == "role":
            if value in (None, ""):
                continue  # not given: the model's default, an independent controller
            clean[field] = _text(value, field, max_length=30, required=True)
            if clean[field] not in PARTNER_ROLES:
                raise ValidationError(f"one of: {', '.join(PARTNER_ROLES)}", field=field)
    if creating:
        for field in ("key", "name", "contact_email", "agreement_reference", "agreement_dated"):
            if field not in clean:
                raise ValidationError("is required", field=field)
    return clean


def _check_partner_role(*, key: str, role: str) -> None:
    problem = partner_role_problem(policy.current(), key=key, role=role)
    if problem is not None:
        raise ValidationError(problem, field="role")


@transaction.atomic
def register_partner(*, actor: Actor, now: dt.datetime, values: Mapping[str, Any]) -> Partner:
    """Register a partner (§11) with its contact point, agreement and channel. A signing secret
    for its endpoint is generated (shown to the privacy officer, to give to the partner)."""
    _check_manager(actor)
    clean = _clean_partner(values, creating=True)
    _check_partner_role(key=clean["key"], role=clean.get("role", "independent_controller"))
    partner = Partner(created_at=now, signing_secret=secrets.token_hex(32), **clean)
    try:
        with transaction.atomic():
            partner.save()
    except IntegrityError:
        raise ConflictError("a partner with this key already exists", field="key") from None
    audit.record(
        actor=actor, now=now, action="create", subject_type="partner", subject_id=partner.pk, fields=list(clean)
    )
    return partner


@transaction.atomic
def update_partner(*, actor: Actor, now: dt.datetime, partner_id: int, changes: Mapping[str, Any]) -> Partner:
    _check_manager(actor)
    clean = _clean_partner(changes, creating=False)
    clean.pop("key", None)
    partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
    if partner is None:
        raise NotFoundError("no such partner")
    if "role" in clean:
        _check_partner_role(key=partner.key, role=clean["role"])
    for field, value in clean.items():
        setattr(partner, field, value)
    partner.save(update_fields=list(clean) or None)
    audit.record(
        actor=actor, now=now, action="update", subject_type="partner", subject_id=partner.pk, fields=list(clean)
    )
    return partner


@transaction.atomic
def end_partnership(*, actor: Actor, now: dt.datetime, partner_id: int) -> Partner:
    """The partnership ends: its open dialogues close, and nothing more goes to it. Notices
    about data it already received are still delivered (GDPR art. 19)."""
    _check_manager(actor)
    partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
    if partner is None:
        raise NotFoundError("no such partner")
    if partner.ended_at is not None:
        return partner
    partner.ended_at = now
    partner.save(update_fields=["ended_at"])
    Dialogue.objects.filter(partner=partner, closed_at__isnull=True).update(closed_at=now, closed_by_id=actor.user_id)
    audit.record(actor=actor, now=now, action="end", subject_type="partner", subject_id=partner.pk)
    return partner


@transaction.atomic
def set_processor_channel(
    *, actor: Actor, now: dt.datetime, processor_key: str, contact_email: str = "", endpoint_url: str = ""
) -> ProcessorChannel:
    """How a processor of the policy (§12) is told of erasures: an endpoint or an address."""
    _check_manager(actor)
    if processor_key not in policy.current().processors:
        raise NotFoundError("no such processor in the privacy policy")
    email = normalise_email(contact_email, field="contact_email") if contact_email.strip() else ""
    url = transport.check_endpoint(endpoint_url)
    if not email and not url:
        raise ValidationError("give an address or an endpoint", field="contact_email")
    channel, created = ProcessorChannel.objects.get_or_create(
        processor_key=processor_key,
        defaults={
            "contact_email": email,
            "endpoint_url": url,
            "signing_secret": secrets.token_hex(32),
            "updated_at": now,
        },
    )
    if not created:
        channel.contact_email, channel.endpoint_url, channel.updated_at = email, url, now
        channel.save(update_fields=["contact_email", "endpoint_url", "updated_at"])
    audit.record(
        actor=actor,
        now=now,
        action="update",
        subject_type="processor_channel",
        subject_id=channel.pk,
        fields=["contact_email", "endpoint_url"],
    )
    return channel


# --- dialogues ---------------------------------------------------------------------------------


def _check_kind(actor: Actor, kind: str) -> str:
    purpose = rule.dialogue_purpose(policy.current(), kind)
    if purpose is None:
        kinds = ", ".join(policy.current().partners.dialogues)
        raise ValidationError(f"unknown kind of dialogue (expected one of: {kinds})", field="kind")
    if actor.kind != "system" and not purpose_rules.may_use_purpose(policy.current(), actor.role, purpose):
        raise PermissionDeniedError(f"your role does not work with {purpose!r}", field="kind")
    return purpose


def _dialogue_for(actor: Actor, dialogue_id: int, *, lock: bool = False) -> tuple[Dialogue, str]:
    rows = Dialogue.objects.select_related("partner")
    if lock:
        rows = rows.select_for_update(of=("self",))
    found = rows.filter(pk=dialogue_id).first()
    if found is None:
        raise NotFoundError("no such dialogue", field="dialogue")
    purpose = rule.dialogue_purpose(policy.current(), found.kind)
    if purpose is None or (
        actor.kind != "system" and not purpose_rules.may_use_purpose(policy.current(), actor.role, purpose)
    ):
        raise NotFoundError("no such dialogue", field="dialogue")
    return found, purpose


@transaction.atomic
def open_dialogue(*, actor: Actor, now: dt.datetime, partner_id: int, kind: str, title: str) -> Dialogue:
    """Open a sales or customer dialogue with a partner (§11)."""
    _check_kind(actor, kind)
    title = _text(title, "title", max_length=200, required=True)
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None:
        raise NotFoundError("no such partner", field="partner")
    if partner.ended_at is not None:
        raise ConflictError("the partnership has ended", field="partner")
    dialogue = Dialogue.objects.create(
        partner=partner, kind=kind, title=title, opened_at=now, opened_by_id=actor.user_id
    )
    audit.record(
        actor=actor,
        now=now,
        action="create",
        subject_type="dialogue",
        subject_id=dialogue.pk,
        fields=["partner", "kind", "title"],
    )
    return dialogue


@transaction.atomic
def close_dialogue(*, actor: Actor, now: dt.datetime, dialogue_id: int) -> Dialogue:
    """Close a dialogue: from now on nothing more goes to the partner through it."""
    dialogue, _ = _dialogue_for(actor, dialogue_id, lock=True)
    if dialogue.closed_at is not None:
        return dialogue
    dialogue.closed_at, dialogue.closed_by_id = now, actor.user_id
    dialogue.save(update_fields=["closed_at", "closed_by_id"])
    audit.record(actor=actor, now=now, action="close", subject_type="dialogue", subject_id=dialogue.pk)
    return dialogue


@transaction.atomic
def add_to_dialogue(*, actor: Actor, now: dt.datetime, dialogue_id: int, person_ids: Sequence[int]) -> int:
    """Add people to an open dialogue; returns how many joined (those already in it are skipped).
    The role must be able to see the people for the dialogue's purpose (§10, §14)."""
    dialogue, purpose = _dialogue_for(actor, dialogue_id, lock=True)
    if dialogue.closed_at is not None:
        raise ConflictError("the dialogue is closed", field="dialogue")
    ids = list(dict.fromkeys(int(p) for p in person_ids))
    if not ids:
        raise ValidationError("choose at least one person", field="people")
    if len(ids) > MAX_PEOPLE_PER_DISCLOSURE:
        raise ValidationError(f"at most {MAX_PEOPLE_PER_DISCLOSURE} people at a time", field="people")
    # Through the read gate: a person the role may not use for the purpose (not told about it,
    # §14; stopped by an objection) is refused exactly like one that does not exist.
    found = people_selectors.visible_person_ids(actor=actor, purpose=purpose, person_ids=ids)
    missing = [p for p in ids if p not in found]
    if missing:
        raise NotFoundError(f"no such person: #{missing[0]}", field="people")
    current = set(
        DialogueMember.objects.filter(dialogue=dialogue, removed_at__isnull=True, person_id__in=ids).values_list(
            "person_id", flat=True
        )
    )
    new = [p for p in ids if p not in current]
    DialogueMember.objects.bulk_create(
        [DialogueMember(dialogue=dialogue, person_id=p, added_at=now, added_by_id=actor.user_id) for p in new]
    )
    # The partner joins the person's own dialogue with us: open it where none is (people.Dialogue).
    people_dialogues.open_dialogues(actor=actor, now=now, person_ids=new, kind=dialogue.kind)
    audit.record_many(
        actor=actor,
        now=now,
        action="add_to_dialogue",
        subject_type="person",
        subject_ids=new,
        purpose=purpose,
        fields=[f"dialogue:{dialogue.pk}"],
    )
    return len(new)


@transaction.atomic
def remove_from_dialogue(*, actor: Actor, now: dt.datetime, dialogue_id: int, person_id: int) -> bool:
    dialogue, purpose = _dialogue_for(actor, dialogue_id, lock=True)
    changed = DialogueMember.objects.filter(dialogue=dialogue, person_id=person_id, removed_at__isnull=True).update(
        removed_at=now
    )
    if changed:
        audit.record(
            actor=actor,
            now=now,
            action="remove_from_dialogue",
            subject_type="person",
            subject_id=person_id,
            purpose=purpose,
            fields=[f"dialogue:{dialogue.pk}"],
        )
    return bool(changed)


# --- disclose: the only path out (§11) ----------------------------------------------------------

CHANNELS = tuple(Disclosure.Channel.values)


@dataclass(frozen=True)
class Plan:
    """What a disclosure would do, person by person, before anything is written."""

    dialogue: Dialogue
    purpose: str
    event: Event | None
    categories: tuple[str, ...]
    decisions: dict[int, tuple[selectors.PersonRow, rule.DisclosureDecision]]

    @property
    def refused(self) -> list[tuple[int, str]]:
        return [(pid, d.reason) for pid, (_, d) in self.decisions.items() if not d.allowed]

    @property
    def allowed(self) -> list[tuple[selectors.PersonRow, rule.DisclosureDecision]]:
        return [(row, d) for row, d in self.decisions.values() if d.allowed]


def plan_disclosure(
    *,
    actor: Actor,
    dialogue_id: int,
    categories: Sequence[str],
    person_ids: Sequence[int] | None = None,
    event_id: int | None = None,
) -> Plan:
    """Check a disclosure request and decide for every person, writing nothing. Raises on bad
    input: an unknown or closed dialogue, a category the policy does not allow (naming it), a
    category the staff member's role may not see, an event not run with this partner, people
    not in the dialogue. ``person_ids`` None means everyone in the dialogue."""
    dialogue, purpose = _dialogue_for(actor, dialogue_id)
    current = policy.current()
    if dialogue.partner.ended_at is not None:
        raise ConflictError("the partnership has ended: nothing more goes to this partner", field="partner")
    if dialogue.closed_at is not None:
        raise ConflictError("the dialogue is closed: nothing more goes to the partner through it", field="dialogue")
    event = None
    if event_id is not None:
        event = Event.objects.filter(pk=event_id).first()
        if event is None:
            raise NotFoundError("no such event", field="event")
        if event.partner_id != dialogue.partner_id:
            raise ValidationError("the event was not run with this partner", field="event")
    wanted = tuple(dict.fromkeys(str(c) for c in categories))
    if not wanted:
        raise ValidationError("choose at least one field", field="fields")
    unknown = [c for c in wanted if c not in current.categories]
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field="fields")
    forbidden = rule.forbidden_categories(current, wanted, partner_event=event is not None)
    if forbidden:
        where = "for an event run with the partner" if event is not None else "in a dialogue"
        raise ValidationError(
            f"the privacy policy does not let partners receive {forbidden[0]!r} {where} (§11)", field="fields"
        )
    visible = purpose_rules.visible_categories(current, actor.role, purpose)
    hidden = [c for c in wanted if c not in visible]
    if hidden and actor.kind != "system":
        raise PermissionDeniedError(f"your role may not see {hidden[0]!r} for {purpose!r}", field="fields")
    if person_ids is None:
        ids = list(
            DialogueMember.objects.filter(dialogue=dialogue, removed_at__isnull=True)
            .order_by("person_id")
            .values_list("person_id", flat=True)[: MAX_PEOPLE_PER_DISCLOSURE + 1]
        )
    else:
        ids = list(dict.fromkeys(int(p) for p in person_ids))
    if not ids:
        raise ValidationError("nobody to disclose: the dialogue has no people", field="people")
    if len(ids) > MAX_PEOPLE_PER_DISCLOSURE:
        raise ValidationError(f"at most {MAX_PEOPLE_PER_DISCLOSURE} people at a time", field="people")
    rows = selectors.disclosure_facts(dialogue=dialogue, purpose=purpose, person_ids=ids, event=event)
    missing = [p for p in ids if p not in rows]
    if missing:
        raise NotFoundError(f"no such person: #{missing[0]}", field="people")
    not_members = [p for p in ids if not rows[p].member]
    if not_members:
        raise ValidationError(
            f"{len(not_members)} of these people are not in the dialogue (first: #{not_members[0]})", field="people"
        )
    decisions = {pid: (rows[pid], rule.may_disclose(current, rows[pid].facts, wanted)) for pid in ids}
    return Plan(dialogue=dialogue, purpose=purpose, event=event, categories=wanted, decisions=decisions)


@dataclass(frozen=True)
class DisclosureResult:
    disclosure: Disclosure
    content: bytes | None  # the file for csv/json; None for a delivery to the endpoint
    content_type: str
    filename: str


REFUSAL_WORDS = {
    "no_open_dialogue": "have no open dialogue with us",
    "objected": "objected",
    "suppressed": "are on the suppression list",
    "not_informed": "were not told about the purpose (§14)",
    "restricted": "have the processing of their data restricted (GDPR art. 18)",
    "nothing_to_disclose": "have nothing to disclose (no answers to the event's form)",
}


def disclose(
    *,
    actor: Actor,
    now: dt.datetime,
    dialogue_id: int,
    categories: Sequence[str],
    channel: str,
    person_ids: Sequence[int] | None = None,
    event_id: int | None = None,
    on_commit: Callable[[Delivery], object] | None = None,
) -> DisclosureResult:
    """Disclose people of an open dialogue to its partner: the only path out (§11).

    Every person must be allowed by the rule; if anyone is not (they objected, are suppressed,
    were not told about the purpose), the whole request is refused with the reason and nothing
    is written or sent. Otherwise, in one transaction: the ledger (one ``Disclosure`` and one
    ``DisclosedPerson`` per person, with the categories that went and the basis), one audit
    entry per person, and for ``channel="endpoint"`` a pending ``Delivery`` (``on_commit`` is
    called with it after the commit, to enqueue the sending). For ``csv`` and ``json`` the file
    is returned. The data is read from the live records in the same transaction."""
    if channel not in CHANNELS:
        raise ValidationError(f"must be one of: {', '.join(CHANNELS)}", field="channel")
    with transaction.atomic():
        plan = plan_disclosure(
            actor=actor, dialogue_id=dialogue_id, categories=categories, person_ids=person_ids, event_id=event_id
        )
        partner = plan.dialogue.partner
        if channel == Disclosure.Channel.ENDPOINT and not partner.endpoint_url:
            raise ValidationError("the partner has no endpoint; export a file instead", field="channel")
        refused = plan.refused
        if refused:
            counts: dict[str, int] = defaultdict(int)
            for _, reason in refused:
                counts[reason] += 1
            words = "; ".join(f"{n} {REFUSAL_WORDS.get(reason, reason)}" for reason, n in sorted(counts.items()))
            raise ConflictError(
                f"refused, nothing was disclosed: {len(refused)} of these people may not go to the partner ({words}); "
                f"first: #{refused[0][0]}",
                field="people",
                code="not_allowed",
            )
        allowed = plan.allowed
        basis = allowed[0][1].basis or rule.OPEN_DIALOGUE
        disclosure = Disclosure.objects.create(
            partner=partner,
            dialogue=plan.dialogue,
            event=plan.event,
            basis=basis,
            purpose=plan.purpose,
            channel=channel,
            categories=list(plan.categories),
            people=len(allowed),
            disclosed_at=now,
            staff_user_id=actor.user_id,
            actor_label=actor.label,
            actor_role=actor.role or "",
        )
        ledger_rows = [(row.pseudonym, d.categories) for row, d in allowed]
        DisclosedPerson.objects.bulk_create(
            [DisclosedPerson(disclosure=disclosure, pseudonym=p, categories=list(c)) for p, c in ledger_rows],
            batch_size=2000,
        )
        # Tamper-evident: sealed, chained per partner and, for its people, per disclosure.
        ledgers.seal("disclosure", ids=[disclosure.pk], lock=True)
        ledgers.seal("disclosed_person", where={"disclosure_id": disclosure.pk})
        audit.record_many(
            actor=actor,
            now=now,
            action="disclose",
            subject_type="person",
            subject_ids=[row.id for row, _ in allowed],
            purpose=plan.purpose,
            fields=[*plan.categories, f"partner:{partner.key}"],
        )
        if channel == Disclosure.Channel.ENDPOINT:
            delivery = Delivery.objects.create(disclosure=disclosure, next_attempt_at=now)
            if on_commit is not None:
                transaction.on_commit(lambda: on_commit(delivery))
            return DisclosureResult(disclosure, None, "", "")
        records = payloads.people_records(ledger_rows, form_id=plan.event.form_id if plan.event else None)
        stamp = now.strftime("%Y%m%d-%H%M")
        if channel == Disclosure.Channel.CSV:
            return DisclosureResult(
                disclosure, payloads.as_csv(records), "text/csv; charset=utf-8", f"disclosure-{partner.key}-{stamp}.csv"
            )
        document = disclosure_document(disclosure, records)
        return DisclosureResult(
            disclosure, payloads.as_json(document), "application/json", f"disclosure-{partner.key}-{stamp}.json"
        )


def disclosure_document(disclosure: Disclosure, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON a partner receives (file or endpoint): who sends it, why, and the people."""
    controller = policy.current().controller
    return {
        "type": "disclosure",
        "reference": str(disclosure.reference),
        "controller": {"name": controller.name, "organisation_number": controller.organisation_number},
        "basis": disclosure.basis,
        "purpose": disclosure.purpose,
        "categories": list(disclosure.categories),
        "disclosed_at": disclosure.disclosed_at,
        "people": records,
    }


def _timestamp(now: dt.datetime) -> int:
    return int(now.timestamp())


@dataclass(frozen=True)
class DeliveryAttempt:
    """One claimed attempt of a delivery: what goes, where, signed with what. Built in the
    claim's transaction from the live data, after the rule was asked again."""

    delivery_id: int
    disclosure_id: int
    attempt: int
    url: str
    secret: str
    reference: str
    body: bytes


def _still_allowed(disclosure: Disclosure) -> tuple[list[tuple[uuid.UUID, list[str]]], int]:
    """The ledger rows of the disclosure whose person the rule still lets go to the partner now
    (``tillit.policy.disclosure.may_disclose``: not objected, not suppressed, still in the open
    dialogue, ...), and how many it no longer does (erased people are counted among them)."""
    rows = [
        (r.pseudonym, list(r.categories)) for r in DisclosedPerson.objects.filter(disclosure=disclosure).order_by("pk")
    ]
    ids = dict(Person.objects.filter(pseudonym__in=[p for p, _ in rows]).values_list("pseudonym", "pk"))
    facts = selectors.disclosure_facts(
        dialogue=disclosure.dialogue, purpose=disclosure.purpose, person_ids=list(ids.values()), event=disclosure.event
    )
    current = policy.current()
    allowed = [
        (pseudonym, categories)
        for pseudonym, categories in rows
        if pseudonym in ids
        and ids[pseudonym] in facts
        and rule.may_disclose(current, facts[ids[pseudonym]].facts, categories).allowed
    ]
    return allowed, len(rows) - len(allowed)


def claim_delivery(*, now: dt.datetime, delivery_id: int) -> DeliveryAttempt | None:
    """Claim the next attempt of a delivery, in its own committed transaction: the attempt is
    counted and the delivery held for ``DELIVERY_LEASE`` (no other attempt starts meanwhile;
    if this worker dies, the delivery is due again once the lease passed). The rule is asked
    again for every person in it: whoever objected, was suppressed or left the dialogue since
    the disclosure is left out (``withheld``); if nobody may go any more, nothing is sent and
    the delivery is ``withheld``. Returns None when there is nothing to send now."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFoundError("no such delivery")
        if delivery.status != Delivery.Status.PENDING:
            return None
        if delivery.claimed_until is not None and delivery.claimed_until > now:
            return None  # another attempt is under way
        disclosure = Disclosure.objects.select_related("partner", "event", "dialogue").get(pk=delivery.disclosure_id)
        rows, withheld = _still_allowed(disclosure)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.withheld = withheld
        if not rows:
            delivery.status, delivery.next_attempt_at, delivery.claimed_until = Delivery.Status.WITHHELD, None, None
            delivery.last_error = "nobody in it may go to the partner any more"
            delivery.save()
            audit.record(
                actor=Actor.system("partner-delivery"),
                now=now,
                action="delivery_withheld",
                subject_type="disclosure",
                subject_id=disclosure.pk,
                fields=[f"withheld:{withheld}"],
            )
            return None
        delivery.claimed_until = delivery.next_attempt_at = now + DELIVERY_LEASE
        delivery.save()
        records = payloads.people_records(rows, form_id=disclosure.event.form_id if disclosure.event else None)
        return DeliveryAttempt(
            delivery_id=delivery.pk,
            disclosure_id=disclosure.pk,
            attempt=delivery.attempts,
            url=disclosure.partner.endpoint_url,
            secret=disclosure.partner.signing_secret,
            reference=str(disclosure.reference),
            body=payloads.as_json(disclosure_document(disclosure, records)),
        )


def record_delivery_attempt(*, now: dt.datetime, attempt: DeliveryAttempt, result: transport.PostResult) -> Delivery:
    """Record what the partner answered to a claimed attempt, in its own transaction: delivered
    on a 2xx; otherwise the next attempt is scheduled with backoff, or the delivery failed
    after the last one. A failure reported after a newer attempt took over changes nothing."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=attempt.delivery_id)
        if delivery.status != Delivery.Status.PENDING:
            return delivery
        if not result.ok and delivery.attempts != attempt.attempt:
            return delivery
        delivery.claimed_until = None
        delivery.response_status = result.status
        if result.ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at, delivery.last_error = (
                Delivery.Status.DELIVERED,
                now,
                None,
                "",
            )
        else:
            delivery.last_error = result.error[:200]
            if delivery.attempts >= DELIVERY_ATTEMPTS:
                delivery.status, delivery.next_attempt_at = Delivery.Status.FAILED, None
            else:
                delivery.next_attempt_at = now + backoff(delivery.attempts, cap=DELIVERY_MAX_WAIT)
        delivery.save()
        audit.record(
            actor=Actor.system("partner-delivery"),
            now=now,
            action="deliver" if result.ok else "delivery_failed",
            subject_type="disclosure",
            subject_id=attempt.disclosure_id,
            fields=[f"attempt:{attempt.attempt}"],
        )
    return delivery


def deliver_disclosure(*, now: dt.datetime, delivery_id: int) -> Delivery:
    """One attempt to send a disclosure to the partner's endpoint: claimed (and the rule asked
    again) in one transaction, the HTTP call made with no transaction open, the answer
    recorded in another (DESIGN rule 16). Delivered only on a 2xx answer; otherwise the
    attempt is counted with its error and the next one scheduled with backoff; after the last
    attempt it is failed. A delivered, failed or withheld one is left alone, and so is one
    whose attempt another worker is making.

    Every attempt of a delivery carries the same ``X-Tillit-Delivery`` (the disclosure's
    reference): a worker that died after the partner answered, before the answer was
    recorded, sends it again once its claim has passed, and the partner recognises it."""
    attempt = claim_delivery(now=now, delivery_id=delivery_id)
    if attempt is not None:
        result = transport.post_signed(
            url=attempt.url,
            secret=attempt.secret,
            body=attempt.body,
            kind="disclosure",
            reference=attempt.reference,
            timestamp=_timestamp(now),
        )
        return record_delivery_attempt(now=now, attempt=attempt, result=result)
    return Delivery.objects.get(pk=delivery_id)


@transaction.atomic
def retry_delivery(*, actor: Actor, now: dt.datetime, delivery_id: int) -> Delivery:
    """Staff try a failed delivery again (the attempts start over)."""
    delivery = Delivery.objects.select_for_update().select_related("disclosure").filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFoundError("no such delivery")
    _dialogue_for(actor, delivery.disclosure.dialogue_id)
    if delivery.status != Delivery.Status.FAILED:
        raise ConflictError("only a failed delivery can be retried")
    delivery.status, delivery.attempts, delivery.next_attempt_at = Delivery.Status.PENDING, 0, now
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    audit.record(actor=actor, now=now, action="retry", subject_type="disclosure", subject_id=delivery.disclosure_id)
    return delivery


# --- notices to recipients (GDPR art. 19, 28(3)(g)) ----------------------------------------------


def _category_of(field: str) -> str | None:
    """The category of a Person field (``organization_id`` counts as ``organization``)."""
    name = "organization" if field == "organization_id" else field
    category = classification.classify(f"people.Person.{name}")
    return None if category is None or category in classification.MARKERS else category


@dataclass
class NoticeSummary:
    erasures: int = 0  # notices to partners about erased people
    corrections: int = 0  # notices to partners about corrected people
    processors: int = 0  # notices to processors about erasure runs
    notices: list[int] | None = None

    @property
    def total(self) -> int:
        return self.erasures + self.corrections + self.processors


CHUNK = 5_000


def queue_art19_notices(*, actor: Actor, now: dt.datetime) -> NoticeSummary:
    """Turn what happened since the last run into notices (an outbox), set-based:
    - every erased person who had been disclosed: a notice to each partner that received them,
      per erasure run (the receipts carry the pseudonym the partner was given);
    - every erasure notice retention wrote for a processor: delivered from here;
    - every change of a disclosed category after the disclosure (the provenance records of
      ``people.services``): a notice to each partner that received that category.
    Safe to run at any time and more than once: nothing is notified twice. Returns counts;
    the new notices' ids are in ``notices`` (enqueue their delivery)."""
    summary = NoticeSummary(notices=[])
    with transaction.atomic():
        _queue_partner_erasures(actor, now, summary)
        _queue_processor_erasures(now, summary)
        _queue_corrections(now, summary)
        if summary.total:
            audit.record(
                actor=actor,
                now=now,
                action="queue_notices",
                subject_type="recipient_notice",
                subject_id=None,
                fields=[
                    f"erasures:{summary.erasures}",
                    f"corrections:{summary.corrections}",
                    f"processors:{summary.processors}",
                ],
            )
    return summary


def _queue_partner_erasures(actor: Actor, now: dt.datetime, summary: NoticeSummary) -> None:
    del actor
    erased = (
        ErasureReceipt.objects.filter(Exists(DisclosedPerson.objects.filter(pseudonym=OuterRef("pseudonym"))))
        .exclude(
            Exists(
                NoticeItem.objects.filter(pseudonym=OuterRef("pseudonym"), notice__kind=RecipientNotice.Kind.ERASURE)
            )
        )
        .order_by("pk")
    )
    last = 0
    while True:
        chunk = list(erased.filter(pk__gt=last).values_list("pk", "pseudonym", "batch")[:CHUNK])
        if not chunk:
            return
        last = chunk[-1][0]
        batch_of = {p: b for _, p, b in chunk}
        received = (
            DisclosedPerson.objects.filter(pseudonym__in=list(batch_of))
            .values_list("pseudonym", "disclosure__partner_id")
            .distinct()
        )
        groups: dict[tuple[uuid.UUID | None, int], set[uuid.UUID]] = defaultdict(set)
        for pseudonym, partner_id in received:
            groups[(batch_of[pseudonym], partner_id)].add(pseudonym)
        for (batch, partner_id), pseudonyms in sorted(groups.items(), key=lambda g: (str(g[0][0]), g[0][1])):
            notice = RecipientNotice.objects.create(
                kind=RecipientNotice.Kind.ERASURE,
                partner_id=partner_id,
                erasure_batch=batch,
                people=len(pseudonyms),
                created_at=now,
                next_attempt_at=now,
            )
            NoticeItem.objects.bulk_create(
                [NoticeItem(notice=notice, pseudonym=p) for p in sorted(pseudonyms, key=str)]
            )
            summary.erasures += 1
            assert summary.notices is not None
            summary.notices.append(notice.pk)


def _queue_processor_erasures(now: dt.datetime, summary: NoticeSummary) -> None:
    pending = (
        ErasureNotice.objects.filter(recipient_kind="processor")
        .exclude(Exists(RecipientNotice.objects.filter(erasure_notice_id=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", "recipient_key", "batch", "people")
    )
    for pk, key, batch, people in pending.iterator(chunk_size=CHUNK):
        notice = RecipientNotice.objects.create(
            kind=RecipientNotice.Kind.ERASURE,
            processor_key=key,
            erasure_batch=batch,
            erasure_notice_id=pk,
            people=people,
            created_at=now,
            next_attempt_at=now,
        )
        summary.processors += 1
        assert summary.notices is not None
        summary.notices.append(notice.pk)


def _queue_corrections(now: dt.datetime, summary: NoticeSummary) -> None:
    scan, _ = NoticeScan.objects.select_for_update().get_or_create(
        name="corrections", defaults={"last_id": 0, "ran_at": now}
    )
    changes = (
        Provenance.objects.filter(pk__gt=scan.last_id, person__isnull=False)
        .filter(Exists(DisclosedPerson.objects.filter(pseudonym=OuterRef("person__pseudonym"))))
        .order_by("pk")
    )
    last = scan.last_id
    while True:
        chunk = list(changes.filter(pk__gt=last).values_list("pk", "person__pseudonym", "field", "recorded_at")[:CHUNK])
        if not chunk:
            break
        last = chunk[-1][0]
        changed: dict[uuid.UUID, list[tuple[str, dt.datetime]]] = defaultdict(list)
        for _, pseudonym, field, at in chunk:
            category = _category_of(field)
            if category is not None:
                changed[pseudonym].append((category, at))
        _notify_changes(now, changed, summary)
    scan.last_id = max(last, Provenance.objects.order_by("-pk").values_list("pk", flat=True).first() or 0)
    scan.ran_at = now
    scan.save(update_fields=["last_id", "ran_at"])


def _notify_changes(
    now: dt.datetime, changed: Mapping[uuid.UUID, list[tuple[str, dt.datetime]]], summary: NoticeSummary
) -> list[RecipientNotice]:
    """One correction notice per partner for the changes of categories it received before the
    change, leaving out what an earlier notice (created at or after the change) already said."""
    if not changed:
        return []
    received = DisclosedPerson.objects.filter(pseudonym__in=list(changed)).values_list(
        "pseudonym", "disclosure__partner_id", "categories", "disclosure__disclosed_at"
    )
    told: dict[tuple[uuid.UUID, int], list[tuple[dt.datetime, set[str]]]] = defaultdict(list)
    for pseudonym, partner_id, categories, created_at in NoticeItem.objects.filter(
        pseudonym__in=list(changed), notice__kind=RecipientNotice.Kind.CORRECTION
    ).values_list("pseudonym", "notice__partner_id", "categories", "notice__created_at"):
        told[(pseudonym, partner_id)].append((created_at, set(categories)))
    per_partner: dict[int, dict[uuid.UUID, set[str]]] = defaultdict(lambda: defaultdict(set))
    for pseudonym, partner_id, categories, disclosed_at in received:
        for category, at in changed[pseudonym]:
            if category not in categories or at <= disclosed_at:
                continue
            if any(when >= at and category in cats for when, cats in told.get((pseudonym, partner_id), [])):
                continue
            per_partner[partner_id][pseudonym].add(category)
    created = []
    for partner_id, items in sorted(per_partner.items()):
        notice = RecipientNotice.objects.create(
            kind=RecipientNotice.Kind.CORRECTION,
            partner_id=partner_id,
            people=len(items),
            created_at=now,
            next_attempt_at=now,
        )
        NoticeItem.objects.bulk_create(
            [NoticeItem(notice=notice, pseudonym=p, categories=sorted(c)) for p, c in sorted(items.items(), key=str)]
        )
        summary.corrections += 1
        assert summary.notices is not None
        summary.notices.append(notice.pk)
        created.append(notice)
    return created


@transaction.atomic
def notify_partners_of_correction(
    *, actor: Actor, now: dt.datetime, person_id: int, fields: Sequence[str]
) -> list[RecipientNotice]:
    """Right after a correction (``people.services.update_person``): tell every partner that
    received a changed category of this person (GDPR art. 19). ``fields`` are the Person
    fields that changed (``name``, ``email``, ``phone``, ``organization_id`` ...). Returns the
    notices created (enqueue their delivery); the daily run does not repeat them."""
    pseudonym = Person.objects.filter(pk=person_id).values_list("pseudonym", flat=True).first()
    if pseudonym is None:
        raise NotFoundError("no such person")
    categories = [c for c in (_category_of(f) for f in fields) if c is not None]
    if not categories:
        return []
    summary = NoticeSummary(notices=[])
    created = _notify_changes(now, {pseudonym: [(c, now) for c in categories]}, summary)
    if created:
        audit.record(
            actor=actor,
            now=now,
            action="queue_notices",
            subject_type="person",
            subject_id=person_id,
            fields=[f"corrections:{len(created)}"],
        )
    return created


@dataclass(frozen=True)
class Channel:
    endpoint_url: str
    secret: str
    email: str


def _channel(notice: RecipientNotice) -> Channel | None:
    if notice.partner_id is not None:
        partner = Partner.objects.get(pk=notice.partner_id)
        return Channel(partner.endpoint_url, partner.signing_secret, partner.contact_email)
    found = ProcessorChannel.objects.filter(processor_key=notice.processor_key).first()
    if found is None:
        return None
    return Channel(found.endpoint_url, found.signing_secret, found.contact_email)


def notice_document(notice: RecipientNotice, *, ack_url: str = "") -> dict[str, Any]:
    """What the recipient is told: the kind, the people by the reference given with their data
    (for a processor: every person of the erasure run), and for a correction the categories that
    changed. No personal data: the recipient looks the references up in what it holds."""
    controller = policy.current().controller
    people: list[dict[str, Any]]
    if notice.partner_id is None and notice.erasure_batch is not None:
        people = [
            {"reference": str(p)}
            for p in ErasureReceipt.objects.filter(batch=notice.erasure_batch)
            .order_by("pk")
            .values_list("pseudonym", flat=True)
        ]
    else:
        people = [
            {"reference": str(i.pseudonym), **({"categories": list(i.categories)} if i.categories else {})}
            for i in NoticeItem.objects.filter(notice=notice).order_by("pk")
        ]
    document: dict[str, Any] = {
        "type": notice.kind,
        "reference": str(notice.reference),
        "controller": {"name": controller.name, "organisation_number": controller.organisation_number},
        "created_at": notice.created_at,
        "request": (
            "Erase every record of these people that you received from us (GDPR art. 17, 19)."
            if notice.kind == RecipientNotice.Kind.ERASURE
            else "These people's data changed in the categories named; ask us for the corrected data or "
            "delete what you hold (GDPR art. 16, 19)."
        ),
        "people": people,
    }
    if ack_url:
        document["acknowledge_url"] = ack_url
    return document


def ack_token(notice: RecipientNotice) -> str:
    return make_token(ACK_USE, {"n": str(notice.reference)})


def deliver_notice(
    *, now: dt.datetime, notice_id: int, ack_url_for: Callable[[str], str] | None = None
) -> RecipientNotice:
    """One attempt to tell the recipient. Through an endpoint: acknowledged on a 2xx answer.
    By email (the partner's contact point, or the processor's address): sent, and acknowledged
    when the recipient opens the signed link in it; re-sent with backoff until then. A failure
    (or no channel) is counted with its reason and retried with backoff, forever: a notice is
    never dropped. Mirrors the state onto retention's ``ErasureNotice`` for processors.

    The endpoint is called with no transaction open (DESIGN rule 16): the attempt is counted,
    and the next one scheduled as if it failed, in a committed transaction first; the answer
    is recorded after. A worker that dies in between leaves a notice that is simply due again;
    every attempt carries the notice's reference (``X-Tillit-Delivery``), so the recipient
    recognises a repeat."""
    outbox: list[EmailMessage] = []
    post: tuple[str, str, bytes, int] | None = None
    with transaction.atomic():
        notice = RecipientNotice.objects.select_for_update().filter(pk=notice_id).first()
        if notice is None:
            raise NotFoundError("no such notice")
        if notice.status == RecipientNotice.Status.ACKNOWLEDGED:
            return notice
        channel = _channel(notice)
        ack_url = ack_url_for(ack_token(notice)) if ack_url_for else ""
        notice.attempts += 1
        notice.last_attempt_at = now
        if channel is None or (not channel.endpoint_url and not channel.email):
            notice.last_error = "no channel: enter the recipient's endpoint or address"
            notice.next_attempt_at = now + backoff(notice.attempts, cap=NOTICE_MAX_WAIT)
        elif channel.endpoint_url:
            post = (channel.endpoint_url, channel.secret, payloads.as_json(notice_document(notice)), notice.attempts)
            notice.next_attempt_at = now + backoff(notice.attempts, cap=NOTICE_MAX_WAIT)
        else:
            outbox.append(_notice_email(notice, channel.email, ack_url))
            notice.status = RecipientNotice.Status.SENT
            notice.last_error = ""
            # Reminded until acknowledged: a day later, then at most a day apart.
            notice.next_attempt_at = now + NOTICE_MAX_WAIT
        notice.save()
        _mirror(notice)
        if post is None:
            audit.record(
                actor=Actor.system("art19-notices"),
                now=now,
                action="notify" if notice.last_error == "" else "notify_failed",
                subject_type="recipient_notice",
                subject_id=notice.pk,
                fields=[f"attempt:{notice.attempts}"],
            )
        reference, kind = str(notice.reference), notice.kind
    if post is not None:
        url, secret, body, attempt = post
        result = transport.post_signed(
            url=url, secret=secret, body=body, kind=kind, reference=reference, timestamp=_timestamp(now)
        )
        _record_notice_answer(now, notice_id, attempt, result)
    for message in outbox:
        try:
            message.send()
        except OSError as error:
            _record_send_failure(now, notice_id, type(error).__name__)
    return RecipientNotice.objects.get(pk=notice_id)


def _record_notice_answer(now: dt.datetime, notice_id: int, attempt: int, result: transport.PostResult) -> None:
    """Record the endpoint's answer to an attempt at a notice (after the call, in its own
    transaction): acknowledged on a 2xx, else the error (the next attempt is already due)."""
    with transaction.atomic():
        notice = RecipientNotice.objects.select_for_update().get(pk=notice_id)
        if notice.status == RecipientNotice.Status.ACKNOWLEDGED:
            return
        if result.ok:
            notice.status, notice.acknowledged_at, notice.next_attempt_at, notice.last_error = (
                RecipientNotice.Status.ACKNOWLEDGED,
                now,
                None,
                "",
            )
        else:
            notice.last_error = result.error[:200]
        notice.save()
        _mirror(notice)
        audit.record(
            actor=Actor.system("art19-notices"),
            now=now,
            action="notify" if result.ok else "notify_failed",
            subject_type="recipient_notice",
            subject_id=notice.pk,
            fields=[f"attempt:{attempt}"],
        )


def _record_send_failure(now: dt.datetime, notice_id: int, reason: str) -> None:
    with transaction.atomic():
        notice = RecipientNotice.objects.select_for_update().get(pk=notice_id)
        if notice.status == RecipientNotice.Status.SENT:
            notice.status = RecipientNotice.Status.PENDING
        notice.last_error = f"the mail server refused it ({reason})"
        notice.next_attempt_at = now + backoff(notice.attempts, cap=NOTICE_MAX_WAIT)
        notice.save(update_fields=["status", "last_error", "next_attempt_at"])


def _notice_email(notice: RecipientNotice, address: str, ack_url: str) -> EmailMessage:
    document = notice_document(notice, ack_url=ack_url)
    controller = policy.current().controller
    subject = (
        f"{controller.name}: erasure notice {notice.reference}"
        if notice.kind == RecipientNotice.Kind.ERASURE
        else f"{controller.name}: correction notice {notice.reference}"
    )
    lines = [
        f"{document['request']}",
        "",
        "The people are named by the reference we gave you with their data:",
        *(
            f"  {p['reference']}" + (f" ({', '.join(p['categories'])})" if p.get("categories") else "")
            for p in document["people"]
        ),
        "",
    ]
    if ack_url:
        lines += ["When you have done so, confirm it here (the link is yours alone):", ack_url, ""]
    lines += ["The notice as JSON is attached.", "", f"{controller.name} · {controller.email}"]
    message = EmailMessage(subject=subject, body="\n".join(lines), to=[address])
    message.attach(f"notice-{notice.reference}.json", payloads.as_json(document), "application/json")
    return message


def _mirror(notice: RecipientNotice) -> None:
    """Keep retention's record of a processor's erasure notice in step (one source of truth for
    delivery: this notice; retention's row says what was owed and whether it is done)."""
    if notice.erasure_notice_id is None:
        return
    ErasureNotice.objects.filter(pk=notice.erasure_notice_id).update(
        attempts=notice.attempts,
        status=(
            ErasureNotice.Status.ACKNOWLEDGED
            if notice.status == RecipientNotice.Status.ACKNOWLEDGED
            else ErasureNotice.Status.PENDING
        ),
        acknowledged_at=notice.acknowledged_at,
    )


@transaction.atomic
def acknowledge_notice(*, now: dt.datetime, token: str) -> RecipientNotice:
    """The recipient confirms a notice through the signed link in the email."""
    payload = read_token(ACK_USE, token, max_age_seconds=ACK_MAX_AGE_SECONDS)
    try:
        reference = uuid.UUID(str(payload.get("n")))
    except ValueError:
        raise NotFoundError("no such notice") from None
    notice = RecipientNotice.objects.select_for_update().filter(reference=reference).first()
    if notice is None:
        raise NotFoundError("no such notice")
    _acknowledge(notice, actor=RECIPIENT, now=now)
    return notice


@transaction.atomic
def record_acknowledgement(*, actor: Actor, now: dt.datetime, notice_id: int) -> RecipientNotice:
    """Staff record that a recipient confirmed a notice another way (a reply, a letter)."""
    _check_manager(actor)
    notice = RecipientNotice.objects.select_for_update().filter(pk=notice_id).first()
    if notice is None:
        raise NotFoundError("no such notice")
    _acknowledge(notice, actor=actor, now=now)
    return notice


# The recipient, acknowledging through the signed link in a notice.
RECIPIENT = Actor(kind="data_subject", role=None, user_id=None, label="recipient:acknowledgement")


def _acknowledge(notice: RecipientNotice, *, actor: Actor, now: dt.datetime) -> None:
    """Mark a (locked) notice acknowledged, mirror it to retention's processor notice, audit it;
    an acknowledged notice stays as it was."""
    if notice.status == RecipientNotice.Status.ACKNOWLEDGED:
        return
    notice.status, notice.acknowledged_at, notice.next_attempt_at = RecipientNotice.Status.ACKNOWLEDGED, now, None
    notice.save(update_fields=["status", "acknowledged_at", "next_attempt_at"])
    _mirror(notice)
    audit.record(actor=actor, now=now, action="acknowledge", subject_type="recipient_notice", subject_id=notice.pk)


def due(*, now: dt.datetime, limit: int = 500) -> tuple[list[int], list[int]]:
    """(delivery ids, notice ids) whose next attempt is due: what the periodic run retries."""
    deliveries = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    notices = list(
        RecipientNotice.objects.exclude(status=RecipientNotice.Status.ACKNOWLEDGED)
        .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return deliveries, notices


def as_json_text(value: Any) -> str:
    return json.dumps(value, default=str)


# --- events (§11: "an event performed with an external party") --------------------------------------

EVENT_FORM_FIELDS = ("name", "email", "phone", "organisation", "question")


@transaction.atomic
def create_event(
    *,
    actor: Actor,
    now: dt.datetime,
    name: str,
    starts_at: dt.datetime,
    partner_id: int | None = None,
    language: str = "en",
    dialogue_kind: str | None = None,
) -> Event:
    """An event of ours, or run with a named partner. Its registration form is a capture form
    (source ``event``, or ``partner_event`` with a partner) asking for the fields partners may
    receive and one additional question. An event with a partner gets its own dialogue with
    that partner (the first kind of dialogue in the policy unless another is named), which the
    people who attend join: only they, and only what the policy allows, may go to the partner."""
    from tillit.capture import services as capture

    name = _text(name, "name", max_length=200, required=True)
    partner = None
    if partner_id is not None:
        partner = Partner.objects.filter(pk=partner_id, ended_at__isnull=True).first()
        if partner is None:
            raise NotFoundError("no such partner", field="partner")
    kind = dialogue_kind or next(iter(policy.current().partners.dialogues))
    if partner is not None:
        _check_kind(actor, kind)
    elif actor.kind != "system" and not selectors.dialogue_kinds_for(actor):
        raise PermissionDeniedError("your role does not run events")
    form = capture.create_form(
        actor=actor,
        now=now,
        name=f"{name} ({starts_at:%Y-%m-%d})",
        language=language,
        fields=[{"name": f, "required": f in ("name", "email")} for f in EVENT_FORM_FIELDS],
        source="partner_event" if partner is not None else "event",
    )
    dialogue = None
    if partner is not None:
        dialogue = Dialogue.objects.create(
            partner=partner, kind=kind, title=name[:200], opened_at=now, opened_by_id=actor.user_id
        )
    event = Event.objects.create(
        name=name, partner=partner, starts_at=starts_at, form_id=form.pk, dialogue=dialogue, created_at=now
    )
    audit.record(
        actor=actor, now=now, action="create", subject_type="event", subject_id=event.pk, fields=["name", "partner"]
    )
    return event


@transaction.atomic
def record_attendance(*, actor: Actor, now: dt.datetime, event_id: int, person_ids: Sequence[int]) -> int:
    """People attended an event: an ``event`` interaction on each timeline (contact they took
    part in, §9), and for an event with a partner, membership of its dialogue. Returns how
    many were recorded (someone already recorded is skipped)."""
    from tillit.people import services as people_services
    from tillit.sharing.models import EventAttendance

    event = Event.objects.select_related("dialogue").filter(pk=event_id).first()
    if event is None:
        raise NotFoundError("no such event", field="event")
    purpose = None
    if event.dialogue is not None:
        _, purpose = _dialogue_for(actor, event.dialogue.pk)
    elif actor.kind != "system" and not selectors.dialogue_kinds_for(actor):
        raise PermissionDeniedError("your role does not record attendance")
    ids = list(dict.fromkeys(int(p) for p in person_ids))
    if not ids:
        raise ValidationError("choose at least one person", field="people")
    done = set(EventAttendance.objects.filter(event=event, person_id__in=ids).values_list("person_id", flat=True))
    new = [p for p in ids if p not in done]
    for person_id in new:
        interaction = people_services.record_interaction(
            actor=actor,
            now=now,
            person_id=person_id,
            kind="event",
            direction="inbound",
            occurred_at=min(event.starts_at, now),
            subject=event.name[:300],
            purpose=purpose,
        )
        EventAttendance.objects.create(
            event=event, person_id=person_id, attended_at=min(event.starts_at, now), interaction_id=interaction.pk
        )
    if event.dialogue is not None and new and event.dialogue.closed_at is None:
        add_to_dialogue(actor=actor, now=now, dialogue_id=event.dialogue.pk, person_ids=new)
    return len(new)
