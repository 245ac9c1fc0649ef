"""Writes to the consent ledger: consent given or withdrawn, objections, Global Privacy Control.

The ledger is append-only; every write is one transaction with its audit record and the
recomputed retention deadline (a consent change may move it, §9). A withdrawal follows §5:
the data is removed through ``erase_person`` unless another ground in the policy still holds,
and the answer says what is kept and why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from tillit import policy
from tillit.audit import ledgers
from tillit.audit import services as audit
from tillit.consent import selectors
from tillit.consent.models import ConsentEvent, Subscription, SuppressionEntry
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from tillit.core.identifiers import identifier_digests, truncate_ip
from tillit.people.models import CustomerRelationship, Person
from tillit.policy import sensitive
from tillit.policy.purposes import may_take_objection
from tillit.retention.services import erase_person, lock_and_recompute_retention, recompute_retention

SOURCE_KINDS = (
    "form",
    "page",
    "staff",
    "api",
    "email_link",
    "email_reply",  # the mailto: of List-Unsubscribe (RFC 2369)
    "preference_centre",
    "gpc",
    "import",
    "double_opt_in",
)
# Objections that are not a purpose of their own: to disclosure to partners (§11).
OBJECTION_ONLY_PURPOSES = ("partner_sharing",)


def _check_purpose_channel(purpose: str, channel: str, *, objection: bool = False) -> str:
    """The legal basis of the purpose on the channel; 422 naming what is unknown."""
    current = policy.current()
    if objection and purpose in OBJECTION_ONLY_PURPOSES:
        return "legitimate_interest"
    if purpose not in current.purposes:
        raise ValidationError(f"unknown purpose {purpose!r}", field="purpose")
    if objection and channel == selectors.ALL_CHANNELS:
        return "legitimate_interest"
    if channel not in current.channels:
        raise ValidationError(f"unknown channel {channel!r}", field="channel")
    basis = current.purposes[purpose].bases.get(channel)
    if basis is None:
        raise ValidationError(f"the purpose {purpose!r} does not use the channel {channel!r}", field="channel")
    return basis


def _lock_person(person_id: int, *, missing_ok: bool = False) -> bool:
    """Lock, then read (DESIGN rule 14): take the person's row lock in its own statement before
    any fact is read, so what the caller decides from is what a concurrent change committed.
    An erased (or unknown) person is "not found" (or False with ``missing_ok``), also when the
    erasure committed while this waited for the lock. Call inside the caller's transaction."""
    if Person.objects.select_for_update().filter(pk=person_id).values_list("pk", flat=True).first() is not None:
        return True
    if missing_ok:
        return False
    raise NotFoundError("no such person")


@transaction.atomic
def record_consent(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    purpose: str,
    channel: str,
    source_kind: str,
    wording: str,
    language: str,
    source_ref: str = "",
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
) -> ConsentEvent:
    """Record that the person gave consent, by a positive act, to the exact ``wording`` shown,
    under the notice version in force (GDPR art. 7(1): we can show who, when, what, how)."""
    basis = _check_purpose_channel(purpose, channel)
    if basis != "consent":
        raise ValidationError(f"the purpose {purpose!r} rests on {basis} on {channel}, not on consent", field="purpose")
    return _append(
        actor=actor,
        now=now,
        person_id=person_id,
        purpose=purpose,
        channel=channel,
        action="given",
        basis=basis,
        source_kind=source_kind,
        source_ref=source_ref,
        wording=wording,
        language=language,
        evidence_ip=evidence_ip,
        evidence_user_agent=evidence_user_agent,
    )


def _check_actor(actor: Actor, *, objection: bool = False) -> None:
    """Staff and API clients record consents only if their role works with them (the policy's
    ``choices`` category, §10); the person themselves and system jobs always may. An objection
    the person makes to staff directly may be taken by every role that talks to people
    (``tillit.policy.purposes.may_take_objection``)."""
    if actor.kind in ("system", "data_subject"):
        return
    current = policy.current()
    if objection and may_take_objection(current, actor.role):
        return
    role = current.roles.get(actor.role or "")
    if role is None or not any("choices" in categories for categories in role.access.values()):
        raise PermissionDeniedError("your role may not record consents")


def _append(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    purpose: str,
    channel: str,
    action: str,
    basis: str,
    source_kind: str,
    source_ref: str,
    wording: str,
    language: str,
    evidence_ip: str | None,
    evidence_user_agent: str,
) -> ConsentEvent:
    _check_actor(actor, objection=action == "objected")
    if source_kind not in SOURCE_KINDS:
        raise ValidationError(f"unknown source {source_kind!r}", field="source_kind")
    wording = (wording or "").strip()
    if not wording:
        raise ValidationError("the exact wording shown to the person is required", field="wording")
    if len(wording) > 5000:
        raise ValidationError("is at most 5000 characters", field="wording")
    if language not in policy.current().languages:
        raise ValidationError(f"must be one of: {', '.join(policy.current().languages)}", field="language")
    notice_id = selectors.current_notice_id()
    if notice_id is None:
        raise ConflictError("no privacy notice has been published yet (tillit notice publish)")
    try:
        # Locks the person, checks they exist and keeps their deadline current, in one query
        # (the ledger itself is not a retention ground, so the order does not matter).
        lock_and_recompute_retention(person_id=person_id, now=now)
    except LookupError:
        raise NotFoundError("no such person") from None
    event = ConsentEvent.objects.create(
        person_id=person_id,
        purpose=purpose,
        channel=channel,
        action=action,
        basis=basis,
        occurred_at=now,
        source_kind=source_kind,
        source_ref=source_ref[:300],
        wording=wording,
        language=language,
        notice_version_id=notice_id,
        evidence_ip=truncate_ip(evidence_ip),
        evidence_user_agent=evidence_user_agent[:300],
    )
    # Sealed after the person's chain (the person's row is locked above): tamper-evident.
    ledgers.seal("consent", ids=[event.pk])
    audit.record(
        actor=actor,
        now=now,
        action=f"consent_{action}",
        subject_type="person",
        subject_id=person_id,
        purpose=purpose,
        fields=["consent"],
    )
    return event


@dataclass(frozen=True)
class WithdrawalResult:
    """What a withdrawal did: nothing (already withdrawn), erased the person (with the receipt
    id), or stopped the purposes and kept the person for the reasons listed."""

    withdrawn: list[tuple[str, str]] = field(default_factory=list)
    erased: bool = False
    receipt_id: int | None = None
    kept_because: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.withdrawn)


@transaction.atomic
def withdraw_consent(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    source_kind: str,
    language: str,
    purpose: str | None = None,
    wording: str = "Withdraw my consent",
    source_ref: str = "",
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
) -> WithdrawalResult:
    """Withdraw consent for ``purpose`` (or every purpose) on every channel (GDPR art. 7(3)).
    Then, per §5, the data is removed unless another ground still holds: an active customer
    relationship (the contract, §9) or a consent still given for another purpose. A second
    withdrawal is a no-op."""
    _check_actor(actor)
    if purpose is not None and purpose not in policy.current().purposes:
        raise ValidationError(f"unknown purpose {purpose!r}", field="purpose")
    # Lock, then read: a consent or subscription recorded at the same moment either committed
    # before (and is withdrawn here) or waits for this withdrawal (and comes after it).
    _lock_person(person_id)
    state = selectors.consent_state(person_id=person_id)
    targets = sorted(
        (p, c) for (p, c), action in state.items() if action == "given" and (purpose is None or p == purpose)
    )
    # Purposes with no ledger entry yet are closed too: a consent still queued (the form
    # intake) is older than this withdrawal and must not outlive it.
    unrecorded = _unrecorded_consents(state=state, purpose=purpose)
    subscriptions = Subscription.objects.filter(person_id=person_id, unsubscribed_at__isnull=True)
    if purpose is not None and purpose != "newsletter":
        subscriptions = subscriptions.none()
    had_any = bool(targets) or subscriptions.exists()
    if not had_any and not unrecorded:
        return WithdrawalResult()
    for p, c in sorted([*targets, *unrecorded]):
        _append(
            actor=actor,
            now=now,
            person_id=person_id,
            purpose=p,
            channel=c,
            action="withdrawn",
            basis="consent",
            source_kind=source_kind,
            source_ref=source_ref,
            wording=wording,
            language=language,
            evidence_ip=evidence_ip,
            evidence_user_agent=evidence_user_agent,
        )
    subscriptions.update(unsubscribed_at=now)
    if not had_any:  # nothing was given: only the unrecorded purposes were closed
        return WithdrawalResult()
    kept = _other_grounds(person_id=person_id)
    if kept:
        person = Person.objects.get(pk=person_id)
        recompute_retention(person=person, now=now)
        return WithdrawalResult(withdrawn=targets, kept_because=kept)
    result = erase_person(actor=actor, now=now, person_id=person_id, reason="withdrawal")
    return WithdrawalResult(withdrawn=targets, erased=True, receipt_id=result.receipt.pk if result.receipt else None)


def _unrecorded_consents(*, state: dict[tuple[str, str], str], purpose: str | None) -> list[tuple[str, str]]:
    """The (purpose, channel) pairs resting on consent (``purpose``, or every purpose) that the
    person's ledger has no entry for yet."""
    current = policy.current()
    return sorted(
        (p, c)
        for p, definition in current.purposes.items()
        if purpose is None or p == purpose
        for c, basis in definition.bases.items()
        if basis == "consent" and (p, c) not in state
    )


def _other_grounds(*, person_id: int) -> list[str]:
    """The grounds of the policy that keep a person after a withdrawal, as stable codes."""
    grounds = []
    if CustomerRelationship.objects.filter(person_id=person_id, ended_at__isnull=True).exists():
        grounds.append("customer")
    still = sorted({p for (p, _), action in selectors.consent_state(person_id=person_id).items() if action == "given"})
    grounds.extend(f"consent:{p}" for p in still)
    if Subscription.objects.filter(person_id=person_id, unsubscribed_at__isnull=True).exists():
        grounds.append("subscribed")
    return grounds


@transaction.atomic
def object_to_direct_marketing(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    source_kind: str,
    language: str,
    wording: str = "I object to direct marketing",
    source_ref: str = "",
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
) -> bool:
    """An objection to direct marketing (GDPR art. 21(2)-(3)) is absolute: it stops email,
    phone and profiling at once and puts the person's address and number on the suppression
    list. Returns False if the person had already objected (a no-op): of two objections at
    the same moment, one is recorded. An erased person is "not found"."""
    _check_actor(actor, objection=True)
    _lock_person(person_id)
    if selectors.consent_state(person_id=person_id).get(("direct_marketing", selectors.ALL_CHANNELS)) == "objected":
        return False
    _append(
        actor=actor,
        now=now,
        person_id=person_id,
        purpose="direct_marketing",
        channel=selectors.ALL_CHANNELS,
        action="objected",
        basis="legitimate_interest",
        source_kind=source_kind,
        source_ref=source_ref,
        wording=wording,
        language=language,
        evidence_ip=evidence_ip,
        evidence_user_agent=evidence_user_agent,
    )
    Subscription.objects.filter(person_id=person_id, unsubscribed_at__isnull=True).update(unsubscribed_at=now)
    person = Person.objects.get(pk=person_id)
    suppress(now=now, email=person.email, phone=person.phone, reason="objection")
    recompute_retention(person=person, now=now)
    return True


# How a person can object "by contacting us directly" (the notice, §5, §8).
CONTACT_CHANNELS = ("phone", "email", "in_person", "letter")


@dataclass(frozen=True)
class TakenObjection:
    """What taking an objection did: ``recorded`` False when the person had already objected
    (nothing changed); ``objected_at`` is when their objection took effect."""

    recorded: bool
    objected_at: dt.datetime


@transaction.atomic
def take_objection_to_direct_marketing(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    contact_channel: str,
    language: str,
    note: str = "",
) -> TakenObjection:
    """The person objects to direct marketing to a staff member directly, during a call, in
    an email or in person (the notice: "by contacting us directly"). It takes effect at once,
    as ``object_to_direct_marketing``: the ledger records the objection (with the channel it
    came by, the staff member and their note), email, phone and profiling stop, the address
    and number go on the suppression list, so no call list or campaign in progress reaches the
    person from now on; audited. Every role that talks to people may take it. The note passes
    the sensitive data guard (§16): the ledger keeps it as long as the person."""
    if actor.kind != "system" and not may_take_objection(policy.current(), actor.role):
        raise PermissionDeniedError("your role may not record objections")
    if contact_channel not in CONTACT_CHANNELS:
        raise ValidationError(f"must be one of: {', '.join(CONTACT_CHANNELS)}", field="contact_channel")
    if not isinstance(note, str):
        raise ValidationError("must be text", field="note")
    note = note.strip()
    if len(note) > 1000:
        raise ValidationError("is at most 1000 characters", field="note")
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in note):
        raise ValidationError("must not contain control characters", field="note")
    if sensitive.scan(note):
        raise ValidationError(
            "the note looks like it holds sensitive personal data (privacy policy §16); leave that out",
            field="note",
        )
    wording = f"Objection to direct marketing, made to our staff directly ({contact_channel})"
    if note:
        wording += f". Note: {note}"
    recorded = object_to_direct_marketing(
        actor=actor,
        now=now,
        person_id=person_id,
        source_kind="staff",
        language=language,
        wording=wording,
        source_ref=f"contact:{contact_channel}; by {actor.label}",
    )
    objected_at = (
        ConsentEvent.objects.filter(
            person_id=person_id, purpose="direct_marketing", channel=selectors.ALL_CHANNELS, action="objected"
        )
        .order_by("occurred_at", "pk")
        .values_list("occurred_at", flat=True)
        .first()
    )
    return TakenObjection(recorded=recorded, objected_at=objected_at or now)


@transaction.atomic
def object_to_purpose(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    purpose: str,
    source_kind: str,
    language: str,
    source_ref: str = "",
) -> bool:
    """An objection under GDPR art. 21(1) to one purpose based on our legitimate interests,
    upheld after the balancing (no compelling grounds override it): the purpose stops for the
    person on every channel (``tillit.policy.consent.may_contact`` refuses it from now on).
    Returns False if the person had already objected to it (a no-op)."""
    _check_actor(actor)
    _check_purpose_channel(purpose, selectors.ALL_CHANNELS, objection=True)
    _lock_person(person_id)
    if selectors.consent_state(person_id=person_id).get((purpose, selectors.ALL_CHANNELS)) == "objected":
        return False
    _append(
        actor=actor,
        now=now,
        person_id=person_id,
        purpose=purpose,
        channel=selectors.ALL_CHANNELS,
        action="objected",
        basis="legitimate_interest",
        source_kind=source_kind,
        source_ref=source_ref,
        wording="Objection to processing based on legitimate interests (GDPR art. 21(1)), upheld",
        language=language,
        evidence_ip=None,
        evidence_user_agent="",
    )
    recompute_retention(person=Person.objects.get(pk=person_id), now=now)
    return True


@transaction.atomic
def record_gpc_objection(*, actor: Actor, now: dt.datetime, person_id: int, language: str, source_ref: str = "") -> int:
    """Global Privacy Control (Sec-GPC: 1) from an identified visitor: an objection, by
    automated means (GDPR art. 21(5)), to profiling and to disclosure to partners. Recorded
    once; returns the number of new ledger entries."""
    _lock_person(person_id)
    state = selectors.consent_state(person_id=person_id)
    written = 0
    for purpose, channel in (("personalisation", "web"), ("partner_sharing", selectors.ALL_CHANNELS)):
        if state.get((purpose, channel)) == "objected":
            continue
        _check_purpose_channel(purpose, channel, objection=True)
        _append(
            actor=actor,
            now=now,
            person_id=person_id,
            purpose=purpose,
            channel=channel,
            action="objected",
            basis="legitimate_interest",
            source_kind="gpc",
            source_ref=source_ref,
            wording="Global Privacy Control signal (Sec-GPC: 1)",
            language=language,
            evidence_ip=None,
            evidence_user_agent="",
        )
        written += 1
    return written


def suppress(*, now: dt.datetime, email: str | None, phone: str | None, reason: str) -> int:
    """Put keyed hashes of an address and a number on the suppression list (no plain text)."""
    entries = [
        SuppressionEntry(digest=digest, channel=kind, reason=reason, created_at=now)
        for kind, digest in identifier_digests(email=email, phone=phone, key=settings.TILLIT_IDENTIFIER_KEY)
    ]
    SuppressionEntry.objects.bulk_create(entries, ignore_conflicts=True)
    return len(entries)


# How long a claimed notice email is held by the run that claimed it: a run that died
# mid-send is presumed dead after it, and the email is sent again (with the same Message-ID).
NOTICE_EMAIL_LEASE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class NoticeEmail:
    """A claimed notice email: to whom, in which language, naming which purposes, with the
    Message-ID recorded in the claim."""

    person_id: int
    email: str
    name: str
    language: str
    pseudonym: str
    purposes: list[str]
    message_id: str


def claim_notice_email(*, now: dt.datetime, person_id: int, notice_version_id: int) -> NoticeEmail | None:
    """Claim the email of notice version ``notice_version_id`` to the person, in its own
    committed transaction, before anything is sent (DESIGN rule 16). The rule is asked at the
    attempt, under the person's lock: nothing for someone erased (also a moment ago), without
    an address, already given this version, or whose address is on the suppression list (an
    objection, a complaint, a bounce); nothing while another run holds the claim. A claim left
    by a run that died is taken over after ``NOTICE_EMAIL_LEASE``, keeping its Message-ID.
    Returns None when nothing is to be sent."""
    from django.core.mail import make_msgid

    from tillit.consent.models import NoticeDelivery

    with transaction.atomic():
        if not _lock_person(person_id, missing_ok=True):
            return None
        person = Person.objects.filter(pk=person_id).values(
            "email", "name", "language", "pseudonym", "notice_version_id"
        )[0]
        if person["notice_version_id"] == notice_version_id or not person["email"]:
            return None
        if selectors.is_suppressed(email=person["email"]):
            return None
        domain = str(settings.DEFAULT_FROM_EMAIL or "").rpartition("@")[2].strip(" >") or None
        claim, created = NoticeDelivery.objects.get_or_create(
            person_id=person_id,
            notice_version_id=notice_version_id,
            defaults={
                "sent_at": None,
                "message_id": make_msgid(domain=domain),
                "claimed_until": now + NOTICE_EMAIL_LEASE,
            },
        )
        if not created:
            if claim.sent_at is not None or (claim.claimed_until is not None and claim.claimed_until > now):
                return None
            claim.claimed_until = now + NOTICE_EMAIL_LEASE
            claim.message_id = claim.message_id or make_msgid(domain=domain)
            claim.save(update_fields=["claimed_until", "message_id"])
        return NoticeEmail(
            person_id=person_id,
            email=person["email"],
            name=person["name"],
            language=person["language"],
            pseudonym=str(person["pseudonym"]),
            purposes=selectors.missing_purposes(person["notice_version_id"]),
            message_id=claim.message_id,
        )


@transaction.atomic
def record_notice_delivery(
    *, actor: Actor, now: dt.datetime, person_id: int, notice_version_id: int, channel: str = "email"
) -> bool:
    """Record that the person was sent the notice version, and from now on hold them to it
    (§14); completes a claim (``claim_notice_email``) if there is one. Returns False if it was
    already recorded (a retried task sends nothing twice)."""
    from tillit.consent.models import NoticeDelivery

    person = Person.objects.select_for_update().filter(pk=person_id).first()
    if person is None:
        return False
    delivery, created = NoticeDelivery.objects.get_or_create(
        person=person, notice_version_id=notice_version_id, defaults={"sent_at": now, "channel": channel}
    )
    if not created and delivery.sent_at is None:  # the claim, now sent
        delivery.sent_at, delivery.claimed_until, delivery.channel = now, None, channel
        delivery.save(update_fields=["sent_at", "claimed_until", "channel"])
        created = True
    person.notice_version_id = notice_version_id
    person.save(update_fields=["notice_version"])
    if created:
        audit.record(
            actor=actor,
            now=now,
            action="notice_sent",
            subject_type="person",
            subject_id=person.pk,
            fields=["notice_version"],
        )
    return created


# Publishing the privacy notice (§14). Appended as one block, with its own imports.

from django.db import IntegrityError  # noqa: E402

from tillit.consent.models import NoticeVersion  # noqa: E402
from tillit.policy import versions as policy_versions  # noqa: E402


def notice_digest(texts: dict[str, str], *, purposes: list[str] | None = None, facts_digest: str | None = None) -> str:
    """The content hash of a notice version (§14): SHA-256 of its texts per language, the
    purposes it names and the digest of every fact of the policy it was rendered from, as
    canonical JSON (``tillit.policy.versions.notice_digest``). A notice is what it means, not
    only what it prints: a new purpose under an old purpose's label is a new version. Without
    ``purposes``/``facts_digest``, those of the policy in force."""
    current = policy.current()
    return policy_versions.notice_digest(
        texts,
        purposes=list(current.purposes) if purposes is None else purposes,
        facts_digest=policy_versions.facts_digest(current) if facts_digest is None else facts_digest,
    )


@transaction.atomic
def publish_notice(
    *, actor: Actor, now: dt.datetime, texts: dict[str, str], policy_digest: str, purposes: list[str]
) -> NoticeVersion:
    """Publish the privacy notice, already rendered in every language of the policy (§14: every
    version is kept, dated and identified by a content hash). A new version is stored only when
    the notice is new: its texts, the purposes it names or any fact of the policy in force
    (``notice_digest``); publishing the same notice again returns the version that has it. The
    policy in force is kept too, as a ``PolicyVersion`` (``record_policy_version``).

    ``purposes`` are the purpose keys the notice names: a purpose may be used for a person only
    once they were given a version that names it (§14). The rendering is the caller's job (the
    public interface); this service only checks, hashes and stores."""
    current = policy.current()
    if set(texts) != set(current.languages):
        raise ValidationError(f"the notice must be given in exactly: {', '.join(current.languages)}", field="texts")
    empty = sorted(language for language, text in texts.items() if not text.strip())
    if empty:
        raise ValidationError(f"the notice text is empty in: {', '.join(empty)}", field="texts")
    unknown = sorted(set(purposes) - set(current.purposes))
    if unknown:
        raise ValidationError(f"unknown purposes: {', '.join(unknown)}", field="purposes")
    if len(policy_digest) != 64 or any(c not in "0123456789abcdef" for c in policy_digest):
        raise ValidationError("must be a SHA-256 hex digest", field="policy_digest")
    facts = policy_versions.facts_digest(current)
    record_policy_version(now=now, published=current, facts_digest=facts)
    digest = notice_digest(texts, purposes=list(purposes), facts_digest=facts)
    existing = selectors.notice_with_digest(digest)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            version = NoticeVersion.objects.create(
                digest=digest,
                policy_digest=policy_digest,
                published_at=now,
                purposes=list(purposes),
                texts=dict(texts),
            )
    except IntegrityError:  # the same notice was published at the same moment by another process
        return NoticeVersion.objects.get(digest=digest)
    audit.record(actor=actor, now=now, action="notice_published", subject_type="notice_version", subject_id=version.pk)
    return version


def record_policy_version(*, now: dt.datetime, published: policy.Policy, facts_digest: str) -> None:
    """Keep the policy being published (§14), once per file content: its text, in force from
    ``now`` until the next version. Called inside ``publish_notice``'s transaction."""
    from tillit.consent.models import PolicyVersion

    if PolicyVersion.objects.filter(digest=published.digest).exists():
        return
    try:
        with transaction.atomic():
            PolicyVersion.objects.create(
                digest=published.digest, facts_digest=facts_digest, text=published.source_text, published_at=now
            )
    except IntegrityError:  # published at the same moment by another process
        pass


# Subscriptions to newsletters and opting out of marketing email (policy §8, §9). Appended as
# one block. The double opt-in itself (the request and its link) lives in tillit.marketing,
# which calls these once the person clicked.
def _latest(person_id: int, purpose: str, channel: str) -> str | None:
    return selectors.consent_state(person_id=person_id).get((purpose, channel))


@transaction.atomic
def open_subscription(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    newsletter: str,
    source_kind: str,
    wording: str,
    language: str,
    source_ref: str = "",
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
) -> bool:
    """Subscribe the person to a newsletter after their confirmed positive act: the consent to
    the newsletter purpose by email goes into the ledger with the exact wording (every
    confirmation is a new entry), and the subscription opens (or reopens). While it is open the
    person has no retention deadline (§9). Returns False if it was already open."""
    if not newsletter or len(newsletter) > 60:
        raise ValidationError("unknown newsletter", field="newsletter")
    _append(
        actor=actor,
        now=now,
        person_id=person_id,
        purpose="newsletter",
        channel="email",
        action="given",
        basis=_check_purpose_channel("newsletter", "email"),
        source_kind=source_kind,
        source_ref=source_ref,
        wording=wording,
        language=language,
        evidence_ip=evidence_ip,
        evidence_user_agent=evidence_user_agent,
    )
    subscription, created = Subscription.objects.get_or_create(
        person_id=person_id, newsletter=newsletter, defaults={"subscribed_at": now}
    )
    opened = created or subscription.unsubscribed_at is not None
    if not created and opened:
        subscription.subscribed_at, subscription.unsubscribed_at = now, None
        subscription.save(update_fields=["subscribed_at", "unsubscribed_at"])
    recompute_retention(person=Person.objects.get(pk=person_id), now=now)
    if opened:
        audit.record(
            actor=actor,
            now=now,
            action="subscribe",
            subject_type="person",
            subject_id=person_id,
            purpose="newsletter",
            fields=["subscriptions"],
        )
    return opened


@transaction.atomic
def end_subscription(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    newsletter: str,
    source_kind: str,
    language: str,
    source_ref: str = "",
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
) -> bool:
    """Unsubscribe the person from one newsletter (§8: the link at the bottom of every email).
    When it was their last one, the ledger records the withdrawal of the newsletter consent.
    The person is then kept for the policy's period after unsubscribing (§9), not erased at
    once: that is a withdrawal under §5 (``withdraw_consent``). Returns False if they were not
    subscribed (a second click is a no-op)."""
    _check_actor(actor)
    if not _lock_person(person_id, missing_ok=True):
        return False  # erased: nothing left to stop
    closed = Subscription.objects.filter(person_id=person_id, newsletter=newsletter, unsubscribed_at=None).update(
        unsubscribed_at=now
    )
    if not closed:
        return False
    still = Subscription.objects.filter(person_id=person_id, unsubscribed_at=None).exists()
    if not still and _latest(person_id, "newsletter", "email") == "given":
        _append(
            actor=actor,
            now=now,
            person_id=person_id,
            purpose="newsletter",
            channel="email",
            action="withdrawn",
            basis="consent",
            source_kind=source_kind,
            source_ref=source_ref,
            wording="Unsubscribe",
            language=language,
            evidence_ip=evidence_ip,
            evidence_user_agent=evidence_user_agent,
        )
    recompute_retention(person=Person.objects.get(pk=person_id), now=now)
    audit.record(
        actor=actor,
        now=now,
        action="unsubscribe",
        subject_type="person",
        subject_id=person_id,
        purpose="newsletter",
        fields=["subscriptions"],
    )
    return True


@transaction.atomic
def opt_out(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    purpose: str,
    channel: str,
    source_kind: str,
    language: str,
    wording: str = "Unsubscribe",
    source_ref: str = "",
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
) -> bool:
    """Stop one purpose on one channel for the person: the unsubscribe link of a direct
    marketing email (the Marketing Control Act §15(3) opt-out; GDPR art. 7(3) when it rested on
    consent). Recorded as a withdrawal in the ledger; the person's other purposes and channels
    are untouched and nothing is erased. Returns False if already stopped (a no-op)."""
    basis = _check_purpose_channel(purpose, channel)
    _lock_person(person_id)
    if _latest(person_id, purpose, channel) in ("withdrawn", "objected"):
        return False
    _append(
        actor=actor,
        now=now,
        person_id=person_id,
        purpose=purpose,
        channel=channel,
        action="withdrawn",
        basis=basis,
        source_kind=source_kind,
        source_ref=source_ref,
        wording=wording,
        language=language,
        evidence_ip=evidence_ip,
        evidence_user_agent=evidence_user_agent,
    )
    return True
