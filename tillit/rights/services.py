"""Writes of the rights app: a request is received, verified, completed or refused (§13).

Every service is keyword-only, takes ``actor`` and ``now``, runs in one transaction and writes
its audit record in it. Emails are sent after the transaction has committed (a failed send
never undoes a completed erasure), except the verification link, which a background task sends
(``tasks.send_verification_link``) so that the portal does the same work, and takes the same
time, whether or not the address is one we hold.

A request holds no personal data once it is closed (see ``tillit/rights/models.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count, Q

from tillit import policy
from tillit.audit import services as audit
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError, ValidationError
from tillit.core.identifiers import identifier_digest, normalise_email, truncate_ip
from tillit.core.tokens import TokenError, TokenExpiredError, make_token, read_token
from tillit.policy import purposes as purpose_rules
from tillit.policy import rights as rule
from tillit.rights import mail, selectors
from tillit.rights.models import (
    CorrectionProposal,
    DataSubjectRequest,
    PortalAttempt,
    RequestEmail,
    RequestEvent,
    SignedDocument,
)

Kind = DataSubjectRequest.Kind
Status = DataSubjectRequest.Status
Event = RequestEvent.Kind

VERIFY_USE = "rights.verify"
VERIFY_HOURS = 24
DOWNLOAD_USE = "rights.download"
DOWNLOAD_DAYS = 7
DOWNLOAD_FORMATS = {"access": ("html", "pdf", "json"), "portability": ("html", "pdf", "zip")}
RATE_PER_ADDRESS = 5
RATE_PER_SOURCE = 20
RATE_WINDOW = dt.timedelta(hours=1)
MAX_DETAILS = 2000
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
CORRECTABLE_FIELDS = ("name", "email", "phone", "position")
OPEN = (Status.RECEIVED, Status.AWAITING_VERIFICATION, Status.VERIFIED, Status.IN_PROGRESS)
STAFF_CHANNELS = (DataSubjectRequest.Channel.PHONE, DataSubjectRequest.Channel.LETTER, DataSubjectRequest.Channel.EMAIL)
PURPOSE = "data_subject_rights"
DESK_TOOL = "request_desk"


class RateLimitedError(DomainError):
    code = "rate_limited"
    status = 429


class LinkUsedError(TokenError):
    code = "link_used"
    status = 410


def _digest(kind: str, value: str) -> str:
    return identifier_digest(kind, value, key=settings.TILLIT_IDENTIFIER_KEY)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_kind(kind: str) -> None:
    if kind not in rule.request_kinds(policy.current()):
        raise ValidationError("unknown request type", field="kind")


def _objection_purpose(kind: str, purpose: str) -> str:
    """The purpose an art. 21(1) objection is about (required for one, ignored otherwise)."""
    if kind != Kind.OBJECTION_PROCESSING:
        return ""
    if purpose not in rule.balancing_purposes(policy.current()):
        raise ValidationError("choose which use of your data you object to", field="objection_purpose")
    return purpose


def _restriction_grounds(kind: str, grounds: str) -> str:
    """The grounds of a restriction under art. 18(1) (required for one, ignored otherwise)."""
    from tillit.policy import restriction as restriction_rule

    if kind != Kind.RESTRICTION:
        return ""
    if grounds not in restriction_rule.GROUNDS:
        raise ValidationError("choose why the processing should be restricted", field="restriction_grounds")
    return grounds


def _check_desk(actor: Actor) -> None:
    if not purpose_rules.may_use_tool(policy.current(), actor.role, DESK_TOOL):
        raise PermissionDeniedError("your role may not use the request desk")


def _text(value: str, field_name: str, max_length: int) -> str:
    text = (value or "").strip()
    if len(text) > max_length:
        raise ValidationError(f"is at most {max_length} characters", field=field_name)
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        raise ValidationError("must not contain control characters", field=field_name)
    return text


def _event(request: DataSubjectRequest, kind: str, *, actor: Actor, now: dt.datetime, note: str = "") -> None:
    RequestEvent.objects.create(request=request, kind=kind, at=now, actor_label=actor.label, note=note)


def _events(request: DataSubjectRequest, kinds: list[tuple[str, str]], *, actor: Actor, now: dt.datetime) -> None:
    """Several history entries (kind, note) at once, in order."""
    RequestEvent.objects.bulk_create(
        RequestEvent(request=request, kind=kind, at=now, actor_label=actor.label, note=note) for kind, note in kinds
    )


def _audit(actor: Actor, now: dt.datetime, action: str, request: DataSubjectRequest, fields: list[str] = []) -> None:  # noqa: B006
    audit.record(
        actor=actor,
        now=now,
        action=action,
        subject_type="rights_request",
        subject_id=request.pk,
        purpose=PURPOSE,
        fields=fields,
    )


def _close(request: DataSubjectRequest, status: str, now: dt.datetime) -> None:
    """Close a request and drop the personal data it held while open."""
    request.status = status
    request.closed_at = now
    request.details = ""
    request.verification_digest = ""
    if request.kind == Kind.RECTIFICATION:  # only corrections carry proposals
        request.corrections.filter(status=CorrectionProposal.Status.PROPOSED).update(
            status=CorrectionProposal.Status.REFUSED, decided_at=now, proposed_value=""
        )
        request.corrections.exclude(proposed_value="").update(proposed_value="")
    documents = list(request.documents.exclude(path="", signer_subject="").values_list("path", flat=True))
    for path in documents:
        if path:
            (Path(settings.DATA_DIR) / path).unlink(missing_ok=True)
    if documents:
        request.documents.update(path="", signer_subject="")


# --- intake ----------------------------------------------------------------------------


def submit_request(
    *,
    actor: Actor,
    now: dt.datetime,
    email: str,
    kind: str,
    language: str,
    details: str = "",
    correction_field: str = "",
    correction_value: str = "",
    objection_purpose: str = "",
    restriction_grounds: str = "",
    ip: str | None = None,
) -> None:
    """A request from the rights portal. Returns nothing on purpose: the portal answers the
    same whether or not we hold data for the address (never a membership oracle). A request
    for an address we hold waits for the person to follow the link we send to that address;
    one for an address we do not hold is kept only as a keyed hash and expires. A second
    request of the same type from the same address while one is open is merged into it (a
    fresh link is sent). More than ``RATE_PER_ADDRESS`` submissions for one address, or
    ``RATE_PER_SOURCE`` from one network, within an hour are refused (429)."""
    _check_kind(kind)
    address = normalise_email(email)
    details = _text(details, "details", MAX_DETAILS)
    objection_purpose = _objection_purpose(kind, objection_purpose)
    restriction_grounds = _restriction_grounds(kind, restriction_grounds)
    proposal = None
    if kind == Kind.RECTIFICATION:
        if correction_field not in CORRECTABLE_FIELDS:
            raise ValidationError("choose what is wrong", field="correction_field")
        proposal = (correction_field, _text(correction_value, "correction_value", 300))
        if not proposal[1]:
            raise ValidationError("say what it should be", field="correction_value")
    if language not in policy.current().languages:
        language = policy.current().default_language
    email_digest = _digest("email", address)
    source_digest = _digest("ip", truncate_ip(ip))
    with transaction.atomic():
        since = now - RATE_WINDOW
        recent = PortalAttempt.objects.filter(
            Q(email_digest=email_digest) | Q(source_digest=source_digest), at__gt=since
        ).aggregate(
            address=Count("pk", filter=Q(email_digest=email_digest)),
            source=Count("pk", filter=Q(source_digest=source_digest)),
        )
        per_source = getattr(settings, "TILLIT_RIGHTS_RATE_PER_SOURCE", RATE_PER_SOURCE)
        if recent["address"] >= RATE_PER_ADDRESS or (per_source and recent["source"] >= per_source):
            raise RateLimitedError("too many requests: please wait an hour and try again")
        PortalAttempt.objects.create(at=now, email_digest=email_digest, source_digest=source_digest)
        pseudonym = selectors.pseudonym_for_email(address)
        existing = (
            DataSubjectRequest.objects.select_for_update()
            .filter(email_digest=email_digest, kind=kind, status__in=OPEN)
            .order_by("received_at")
            .first()
        )
        if existing is not None:
            _event(existing, Event.REPEATED, actor=actor, now=now)
            _audit(actor, now, "rights_request_repeated", existing)
            if existing.status == Status.AWAITING_VERIFICATION:
                _enqueue_verification(existing.pk)
            return
        request = DataSubjectRequest.objects.create(
            kind=kind,
            status=Status.AWAITING_VERIFICATION,
            channel=DataSubjectRequest.Channel.PORTAL,
            language=language,
            received_at=now,
            due_on=rule.due_on(policy.current(), now),
            person_pseudonym=pseudonym,
            email_digest=email_digest,
            details=details,
            objection_purpose=objection_purpose,
            restriction_grounds=restriction_grounds,
            verification_method="email_link",
        )
        if proposal is not None:
            CorrectionProposal.objects.create(request=request, field=proposal[0], proposed_value=proposal[1])
        _event(request, Event.RECEIVED, actor=actor, now=now)
        _audit(actor, now, "rights_request_received", request)
        _enqueue_verification(request.pk)


def _enqueue_verification(request_id: int) -> None:
    from tillit.rights import tasks  # the task calls back into this module

    tasks.send_verification_link.enqueue(request_id)


def send_verification_link(*, actor: Actor, now: dt.datetime, request_id: int) -> bool:
    """Send a fresh, signed, expiring link to the address we hold for the person the request
    is about (any earlier link stops working). Nothing is sent for a request that matches
    nobody or is no longer waiting. Returns whether a link was sent."""
    with transaction.atomic():
        request = DataSubjectRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or request.status != Status.AWAITING_VERIFICATION or request.person_pseudonym is None:
            return False
        contact = selectors.contact_for_pseudonym(request.person_pseudonym)
        if contact is None or not contact["email"]:
            return False
        secret = secrets.token_urlsafe(24)
        request.verification_digest = _secret_hash(secret)
        request.verification_sent_at = now
        request.verification_expires_at = now + dt.timedelta(hours=VERIFY_HOURS)
        request.save(update_fields=["verification_digest", "verification_sent_at", "verification_expires_at"])
        _event(request, Event.VERIFICATION_SENT, actor=actor, now=now)
        _audit(actor, now, "rights_verification_sent", request)
        token = make_token(VERIFY_USE, {"r": str(request.reference), "s": secret})
        message = mail.verification_message(
            email=contact["email"], language=request.language, kind=request.kind, token=token, hours=VERIFY_HOURS
        )
    message.send()
    return True


def _request_for_link(token: str, *, lock: bool) -> tuple[DataSubjectRequest, str]:
    payload = read_token(VERIFY_USE, token, max_age_seconds=VERIFY_HOURS * 3600)
    query = DataSubjectRequest.objects.filter(reference=_uuid(payload.get("r")))
    request = (query.select_for_update() if lock else query).first()
    if request is None:
        raise TokenError("this link is not valid")
    return request, str(payload.get("s", ""))


def _uuid(value: Any) -> str:
    import uuid

    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise TokenError("this link is not valid") from None


def check_verification_link(*, token: str, now: dt.datetime) -> DataSubjectRequest:
    """The request a verification link confirms, if the link still works (for the page that
    shows the confirm button). Raises TokenError, TokenExpiredError or LinkUsedError."""
    request, secret = _request_for_link(token, lock=False)
    _check_link(request, secret, now)
    return request


def _check_link(request: DataSubjectRequest, secret: str, now: dt.datetime) -> None:
    if request.status != Status.AWAITING_VERIFICATION:
        if request.status == Status.EXPIRED:
            raise TokenExpiredError("this link has expired")
        raise LinkUsedError("this link has already been used")
    if not request.verification_digest or not secrets.compare_digest(request.verification_digest, _secret_hash(secret)):
        raise TokenError("this link has been replaced by a newer one; use the link in our latest email")
    if request.verification_expires_at is None or request.verification_expires_at <= now:
        raise TokenExpiredError("this link has expired")


@dataclass
class Completion:
    """What verifying (or completing) a request did, for the page the person sees."""

    kind: str
    language: str
    status: str
    staff_step_reason: str = ""
    outcome: dict[str, Any] = field(default_factory=dict)


def confirm_verification(*, actor: Actor, now: dt.datetime, token: str) -> Completion:
    """The person confirmed the request from the link we sent: it is verified and, unless the
    policy needs a staff step, completed at once (§13). A forged, expired or used link changes
    nothing (TokenError, TokenExpiredError, LinkUsedError)."""
    outbox: list[RequestEmail] = []
    # The audit entries of every step (the erasure's, the request's) join the chain together at
    # the end: the chain's lock is held from there to the commit only, so a burst of
    # confirmations does not queue behind each one's whole transaction.
    with transaction.atomic(), audit.deferred():
        request, secret = _request_for_link(token, lock=True)
        _check_link(request, secret, now)
        _verified(request, method="email_link", actor=actor, now=now, outbox=outbox)
    _send(outbox)
    return Completion(request.kind, request.language, request.status, request.staff_step_reason, request.outcome)


def _send(outbox: list[RequestEmail]) -> None:
    """Hand the emails written with the request to the task that sends them (after the
    commit: called once the service's transaction is over). If this process dies first, the
    daily run (``send_due_emails``) sends them."""
    from tillit.rights import tasks  # the task calls back into this module

    for email in outbox:
        tasks.send_request_email.enqueue(email.pk)


def _queue_email(
    request: DataSubjectRequest, *, kind: str, email: str, now: dt.datetime, with_download: bool = False
) -> RequestEmail:
    """Write the email to the person in the request's own transaction (a crash after the
    commit cannot lose it), with its Message-ID fixed now."""
    from django.core.mail import make_msgid

    domain = str(settings.DEFAULT_FROM_EMAIL or "").rpartition("@")[2].strip(" >") or None
    return RequestEmail.objects.create(
        request=request,
        kind=kind,
        email=email,
        with_download=with_download,
        message_id=make_msgid(domain=domain),
        created_at=now,
    )


# How long a claimed email is held by the worker sending it; after that (the worker died) it
# is sent again, with the same Message-ID. A failed send is tried again after ``EMAIL_RETRY``.
EMAIL_LEASE = dt.timedelta(minutes=10)
EMAIL_RETRY = dt.timedelta(minutes=15)


def _render(row: RequestEmail) -> EmailMessage:
    request = row.request
    if row.kind == RequestEmail.Kind.EXTENSION:
        message = mail.extension_message(email=row.email, language=request.language, request=request)
    elif row.kind == RequestEmail.Kind.REFUSAL:
        message = mail.refusal_message(email=row.email, language=request.language, request=request)
    else:
        download = make_token(DOWNLOAD_USE, {"r": str(request.reference)}) if row.with_download else None
        message = mail.answer_message(
            email=row.email, language=request.language, request=request, download_token=download
        )
    message.extra_headers["Message-ID"] = row.message_id
    return message


def send_request_email(*, now: dt.datetime, email_id: int) -> bool:
    """Send one email of a request (DESIGN rule 16): claimed in a committed transaction (no
    other worker sends it meanwhile), sent with no transaction open, recorded after (the
    address is then blanked). A worker that dies after sending leaves the claim; the email
    goes again once it lapsed, with the same Message-ID. Returns whether it was sent now."""
    with transaction.atomic():
        row = RequestEmail.objects.select_for_update().select_related("request").filter(pk=email_id).first()
        if row is None or row.sent_at is not None or not row.email:
            return False
        if row.claimed_until is not None and row.claimed_until > now:
            return False
        row.attempts += 1
        row.claimed_until = now + EMAIL_LEASE
        row.save(update_fields=["attempts", "claimed_until"])
    message = _render(row)
    try:
        message.send()
    except OSError as error:
        RequestEmail.objects.filter(pk=email_id, sent_at=None).update(
            claimed_until=now + EMAIL_RETRY, last_error=f"the mail server refused it ({type(error).__name__})"
        )
        return False
    RequestEmail.objects.filter(pk=email_id).update(sent_at=now, email="", claimed_until=None, last_error="")
    return True


def send_due_emails(*, now: dt.datetime) -> int:
    """Send every request email not sent yet whose claim (if any) has lapsed: those whose task
    was lost with a crashed process, or whose worker died. Returns how many went."""
    due = (
        RequestEmail.objects.filter(sent_at=None)
        .exclude(email="")
        .filter(Q(claimed_until=None) | Q(claimed_until__lte=now))
    )
    return sum(send_request_email(now=now, email_id=pk) for pk in list(due.values_list("pk", flat=True)[:1000]))


# The columns a verified request changes on its way to completion (one UPDATE at the end).
_VERIFIED_FIELDS = ["status", "verified_at", "verification_method", "verification_digest", "staff_step_reason"]
_COMPLETED_FIELDS = ["status", "closed_at", "details", "verification_digest", "outcome", "erasure_receipt_id"]


def _verified(
    request: DataSubjectRequest, *, method: str, actor: Actor, now: dt.datetime, outbox: list[RequestEmail]
) -> None:
    """The request's identity check succeeded: complete it now, or hand it to the privacy
    officer with the reason (§13). The request row, its history and the audit are each
    written once, however far it gets."""
    request.status = Status.VERIFIED
    request.verified_at = now
    request.verification_method = method
    request.verification_digest = ""
    facts = selectors.subject_facts(request.person_pseudonym)
    reason = rule.staff_step_reason(request.kind, is_active_customer=bool(facts and facts["is_active_customer"]))
    if facts is not None and reason is not None:
        request.status = Status.IN_PROGRESS
        request.staff_step_reason = reason
        request.save(update_fields=_VERIFIED_FIELDS)
        _events(request, [(Event.VERIFIED, method), (Event.NEEDS_STAFF, reason)], actor=actor, now=now)
        _audit(actor, now, "rights_request_verified", request)
        return
    _complete(request, facts=facts, actor=actor, now=now, outbox=outbox, verified_by=method)


def _complete(
    request: DataSubjectRequest,
    *,
    facts: dict[str, Any] | None,
    actor: Actor,
    now: dt.datetime,
    outbox: list[RequestEmail],
    verified_by: str = "",
) -> None:
    """Do what the request asks and write the answer (sent after commit). ``verified_by``: the
    request was verified in this same step (its history and audit then say so too)."""
    person_id = facts["pk"] if facts is not None else None
    outcome: dict[str, Any] = {}
    if person_id is None:
        outcome = {"no_data": True}
    elif request.kind in (Kind.ACCESS, Kind.PORTABILITY):
        outcome = {"download_days": DOWNLOAD_DAYS}
    elif request.kind == Kind.ERASURE:
        outcome = _erase(person_id=person_id, was_customer=bool(facts and facts["was_customer"]), actor=actor, now=now)
        request.erasure_receipt_id = outcome.pop("receipt_id", None)
    elif request.kind == Kind.WITHDRAWAL:
        outcome = _withdraw(request, person_id=person_id, actor=actor, now=now)
    elif request.kind == Kind.OBJECTION:
        outcome = _object(request, person_id=person_id, actor=actor, now=now)
    elif request.kind == Kind.OBJECTION_PROCESSING:
        outcome = _uphold_objection(request, person_id=person_id, actor=actor, now=now)
    elif request.kind == Kind.RESTRICTION:
        outcome = _restrict(request, person_id=person_id, actor=actor, now=now)
    if request.erasure_receipt_id is not None:
        from tillit.sharing import tasks as sharing_tasks

        sharing_tasks.tell_recipients_of_erasure(pseudonym=request.person_pseudonym)
    request.outcome = outcome
    _close(request, Status.COMPLETED, now)
    request.save(update_fields=sorted({*_COMPLETED_FIELDS, *(_VERIFIED_FIELDS if verified_by else [])}))
    history = [(Event.VERIFIED, verified_by)] if verified_by else []
    _events(request, [*history, (Event.COMPLETED, "")], actor=actor, now=now)
    audit.record_actions(
        actor=actor,
        now=now,
        actions=[*(["rights_request_verified"] if verified_by else []), "rights_request_completed"],
        subject_type="rights_request",
        subject_id=request.pk,
        purpose=PURPOSE,
    )
    contact = facts
    if contact and contact["email"]:
        download = request.kind in (Kind.ACCESS, Kind.PORTABILITY) and person_id is not None
        outbox.append(
            _queue_email(
                request, kind=RequestEmail.Kind.ANSWER, email=contact["email"], now=now, with_download=download
            )
        )


def _source_kind(actor: Actor) -> str:
    return "staff" if actor.kind == "staff" else "page"


def _erase(*, person_id: int, was_customer: bool, actor: Actor, now: dt.datetime) -> dict[str, Any]:
    from tillit.retention.services import erase_person

    result = erase_person(actor=actor, now=now, person_id=person_id, reason="request")
    receipt = result.receipt
    kept = []
    if was_customer:
        kept = [
            {"hold": key, "basis": hold.basis, "years": hold.years}
            for key, hold in policy.current().retention.legal_holds.items()
        ]
    return {
        "erased": selectors.erased_categories(receipt.counts if receipt else {}),
        "kept": kept,
        "receipt": str(receipt.pseudonym) if receipt else "",
        "receipt_id": receipt.pk if receipt else None,
    }


def _withdraw(request: DataSubjectRequest, *, person_id: int, actor: Actor, now: dt.datetime) -> dict[str, Any]:
    from tillit.consent.services import withdraw_consent

    result = withdraw_consent(
        actor=actor,
        now=now,
        person_id=person_id,
        source_kind=_source_kind(actor),
        language=request.language,
        source_ref=f"rights request {request.reference}",
    )
    if result.erased:
        request.erasure_receipt_id = result.receipt_id
    return {
        "withdrawn": [f"{p}:{c}" for p, c in result.withdrawn],
        "erased": result.erased,
        "kept_because": list(result.kept_because),
    }


def _object(request: DataSubjectRequest, *, person_id: int, actor: Actor, now: dt.datetime) -> dict[str, Any]:
    from tillit.consent.services import object_to_direct_marketing

    recorded = object_to_direct_marketing(
        actor=actor,
        now=now,
        person_id=person_id,
        source_kind=_source_kind(actor),
        language=request.language,
        source_ref=f"rights request {request.reference}",
    )
    return {"objected": True, "already": not recorded}


def _uphold_objection(request: DataSubjectRequest, *, person_id: int, actor: Actor, now: dt.datetime) -> dict[str, Any]:
    """An art. 21(1) objection the privacy officer upheld (no compelling grounds override it):
    the purpose stops for the person on every channel."""
    from tillit.consent.services import object_to_purpose

    recorded = object_to_purpose(
        actor=actor,
        now=now,
        person_id=person_id,
        purpose=request.objection_purpose,
        source_kind=_source_kind(actor),
        language=request.language,
        source_ref=f"rights request {request.reference}",
    )
    return {"objected_purpose": request.objection_purpose, "already": not recorded}


def _restrict(request: DataSubjectRequest, *, person_id: int, actor: Actor, now: dt.datetime) -> dict[str, Any]:
    """Art. 18(1): the person's data is from now on only stored, until the privacy officer
    lifts the restriction (telling the person first, art. 18(3))."""
    from tillit.people.restrictions import restrict_processing
    from tillit.policy import restriction as restriction_rule

    restriction, started = restrict_processing(
        actor=actor,
        now=now,
        person_id=person_id,
        grounds=request.restriction_grounds,
        request_reference=str(request.reference),
    )
    return {
        "restricted": True,
        "grounds": restriction.grounds,
        "article": restriction_rule.ARTICLE[restriction.grounds],
        "already": not started,
    }


def lift_restriction(*, actor: Actor, now: dt.datetime, request_id: int) -> bool:
    """The privacy officer lifts the restriction a request put on the person's processing
    (art. 18(3)): the email telling them is written now and sent by a task after the commit;
    the lift takes effect only once it went (``people.restrictions.send_lift_notice``).
    Returns whether the lift waits for that email (False: it has already taken effect)."""
    from tillit.people.restrictions import request_lift
    from tillit.rights import tasks  # the task calls back into the people app

    _check_desk(actor)
    request = DataSubjectRequest.objects.filter(pk=request_id).first()
    if request is None or request.kind != Kind.RESTRICTION:
        raise NotFoundError("no such restriction request")
    person_id = selectors.person_id_for(request.person_pseudonym)
    if person_id is None:
        raise NotFoundError("no such person")
    restriction = request_lift(actor=actor, now=now, person_id=person_id)
    tasks.send_restriction_lift_notice.enqueue(restriction.pk)  # after request_lift's commit
    restriction.refresh_from_db()
    return restriction.lifted_at is None


def expire_requests(*, actor: Actor, now: dt.datetime) -> int:
    """Expire requests never verified: their link ran out, or (for an address we do not hold,
    which gets no link) a day has passed. Set-based; returns how many expired. Also forgets
    portal attempts older than a day (they exist only for the rate limit)."""
    with transaction.atomic():
        stale = DataSubjectRequest.objects.filter(status=Status.AWAITING_VERIFICATION).filter(models_q_expired(now))
        ids = list(stale.values_list("pk", flat=True)[:50_000])
        if ids:
            DataSubjectRequest.objects.filter(pk__in=ids).update(
                status=Status.EXPIRED, closed_at=now, details="", verification_digest=""
            )
            CorrectionProposal.objects.filter(request_id__in=ids).update(
                status=CorrectionProposal.Status.REFUSED, decided_at=now, proposed_value=""
            )
            RequestEvent.objects.bulk_create(
                [RequestEvent(request_id=pk, kind=Event.EXPIRED, at=now, actor_label=actor.label) for pk in ids]
            )
            audit.record_many(
                actor=actor,
                now=now,
                action="rights_request_expired",
                subject_type="rights_request",
                subject_ids=ids,
                purpose=PURPOSE,
            )
        PortalAttempt.objects.filter(at__lt=now - dt.timedelta(days=1)).delete()
    return len(ids)


def models_q_expired(now: dt.datetime) -> Any:
    from django.db.models import Q

    return Q(verification_expires_at__lte=now) | Q(
        verification_expires_at__isnull=True, received_at__lte=now - dt.timedelta(hours=VERIFY_HOURS)
    )


# --- downloads -------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    person_id: int
    kind: str
    language: str
    reference: str


def open_download(*, actor: Actor, now: dt.datetime, token: str, what: str) -> Download:
    """The person behind a download link (signed, 7 days), recording the download in the
    history and the audit. Raises TokenError when the link is forged or expired, or when the
    person's data is gone."""
    payload = read_token(DOWNLOAD_USE, token, max_age_seconds=DOWNLOAD_DAYS * 86400)
    with transaction.atomic():
        request = DataSubjectRequest.objects.filter(reference=_uuid(payload.get("r"))).first()
        if request is None or request.status != Status.COMPLETED or request.kind not in (Kind.ACCESS, Kind.PORTABILITY):
            raise TokenError("this link is not valid")
        if what and what not in DOWNLOAD_FORMATS[request.kind]:
            raise TokenError("there is no such file")
        person_id = selectors.person_id_for(request.person_pseudonym)
        if person_id is None:
            raise TokenError("there is no data about you here any more")
        if what:
            _event(request, Event.DOWNLOADED, actor=actor, now=now, note=what)
            audit.record(
                actor=actor,
                now=now,
                action="rights_download",
                subject_type="person",
                subject_id=person_id,
                purpose=PURPOSE,
                fields=[what],
            )
    return Download(person_id, request.kind, request.language, str(request.reference))


# --- the request desk (privacy officer) ------------------------------------------------------


def _desk_request(actor: Actor, request_id: int) -> DataSubjectRequest:
    _check_desk(actor)
    request = DataSubjectRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFoundError("no such request")
    return request


def _check_open(request: DataSubjectRequest) -> None:
    if request.status not in OPEN:
        raise ConflictError("this request is closed")


def register_request(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    kind: str,
    channel: str,
    received_at: dt.datetime | None = None,
    details: str = "",
    correction_field: str = "",
    correction_value: str = "",
    objection_purpose: str = "",
    restriction_grounds: str = "",
) -> DataSubjectRequest:
    """Register a request received by phone, letter or email to a person we hold. The clock
    starts at ``received_at`` (the day the letter came), not at registration. The person
    confirms it from a link to the address we hold (or staff attach a signed document)."""
    _check_desk(actor)
    _check_kind(kind)
    if channel not in STAFF_CHANNELS:
        raise ValidationError("choose phone, letter or email", field="channel")
    received_at = received_at or now
    if received_at > now:
        raise ValidationError("cannot be in the future", field="received_at")
    details = _text(details, "details", MAX_DETAILS)
    objection_purpose = _objection_purpose(kind, objection_purpose)
    restriction_grounds = _restriction_grounds(kind, restriction_grounds)
    contact = selectors.contact_for_person(person_id)
    if contact is None:
        raise NotFoundError("no such person")
    with transaction.atomic():
        request = DataSubjectRequest.objects.create(
            kind=kind,
            status=Status.AWAITING_VERIFICATION,
            channel=channel,
            language=contact["language"] if contact["language"] in policy.current().languages else "en",
            received_at=received_at,
            due_on=rule.due_on(policy.current(), received_at),
            person_pseudonym=contact["pseudonym"],
            email_digest=_digest("email", contact["email"]) if contact["email"] else "",
            details=details,
            objection_purpose=objection_purpose,
            restriction_grounds=restriction_grounds,
            verification_method="email_link",
        )
        if kind == Kind.RECTIFICATION:
            if correction_field not in CORRECTABLE_FIELDS:
                raise ValidationError("choose what is wrong", field="correction_field")
            value = _text(correction_value, "correction_value", 300)
            CorrectionProposal.objects.create(request=request, field=correction_field, proposed_value=value)
        _event(request, Event.RECEIVED, actor=actor, now=now, note=channel)
        _audit(actor, now, "rights_request_registered", request)
        if contact["email"]:
            _enqueue_verification(request.pk)
    return request


def extend_request(*, actor: Actor, now: dt.datetime, request_id: int, reason: str) -> DataSubjectRequest:
    """Extend the deadline by the policy's extension, with a reason that is emailed to the
    person (art. 12(3)); only while the first month runs."""
    _check_desk(actor)
    reason = _text(reason, "reason", 2000)
    outbox: list[RequestEmail] = []
    with transaction.atomic():
        request = _desk_request(actor, request_id)
        _check_open(request)
        request.extended_until = rule.extend(
            policy.current(),
            received_at=request.received_at,
            now=now,
            reason=reason,
            already_extended=request.extended_until is not None,
        )
        request.extension_reason = reason
        request.save(update_fields=["extended_until", "extension_reason"])
        _event(request, Event.EXTENDED, actor=actor, now=now, note=reason)
        _audit(actor, now, "rights_request_extended", request)
        contact = selectors.contact_for_pseudonym(request.person_pseudonym)
        if contact and contact["email"]:
            outbox.append(_queue_email(request, kind=RequestEmail.Kind.EXTENSION, email=contact["email"], now=now))
    _send(outbox)
    return request


def refuse_request(*, actor: Actor, now: dt.datetime, request_id: int, reason: str) -> DataSubjectRequest:
    """Refuse a request with a reason, sent to the person with their right to complain to the
    supervisory authority and to a judicial remedy (art. 12(4))."""
    _check_desk(actor)
    reason = _text(reason, "reason", 2000)
    if not reason:
        raise ValidationError("a refusal needs a reason, which we send to the person", field="reason")
    outbox: list[RequestEmail] = []
    with transaction.atomic():
        request = _desk_request(actor, request_id)
        _check_open(request)
        contact = selectors.contact_for_pseudonym(request.person_pseudonym)
        request.refusal_reason = reason
        _close(request, Status.REFUSED, now)
        request.save(update_fields=["status", "closed_at", "details", "verification_digest", "refusal_reason"])
        _event(request, Event.REFUSED, actor=actor, now=now, note=reason)
        _audit(actor, now, "rights_request_refused", request)
        if contact and contact["email"]:
            outbox.append(_queue_email(request, kind=RequestEmail.Kind.REFUSAL, email=contact["email"], now=now))
    _send(outbox)
    return request


def complete_request(*, actor: Actor, now: dt.datetime, request_id: int) -> DataSubjectRequest:
    """The privacy officer completes a verified request that waited for them (e.g. an
    erasure of an active customer: what must be kept for bookkeeping is kept and listed)."""
    outbox: list[RequestEmail] = []
    with transaction.atomic():
        request = _desk_request(actor, request_id)
        if request.status not in (Status.VERIFIED, Status.IN_PROGRESS):
            raise ConflictError("only a verified request that waits for a decision can be completed")
        if request.kind == Kind.RECTIFICATION:
            raise ConflictError("decide each proposed correction instead")
        _complete(request, facts=selectors.subject_facts(request.person_pseudonym), actor=actor, now=now, outbox=outbox)
    _send(outbox)
    return request


def confirm_identity(*, actor: Actor, now: dt.datetime, request_id: int) -> Completion:
    """The privacy officer confirms the person's identity from a signed document attached to
    the request (the policy's ``signed_document`` verification); the request then goes on as
    after a confirmed link."""
    _check_desk(actor)
    if "signed_document" not in policy.current().rights.verification:
        raise ConflictError("the privacy policy does not allow verification by a signed document")
    outbox: list[RequestEmail] = []
    with transaction.atomic():
        request = _desk_request(actor, request_id)
        if request.status not in (Status.RECEIVED, Status.AWAITING_VERIFICATION):
            raise ConflictError("this request is not waiting for verification")
        if not request.documents.filter(result=SignedDocument.Result.SIGNED).exists():
            raise ConflictError("attach a signed, intact document first")
        _verified(request, method="signed_document", actor=actor, now=now, outbox=outbox)
    _send(outbox)
    return Completion(request.kind, request.language, request.status, request.staff_step_reason, request.outcome)


def decide_correction(
    *, actor: Actor, now: dt.datetime, proposal_id: int, approve: bool, reason: str = ""
) -> CorrectionProposal:
    """Approve a proposed correction (the person's data is updated through
    ``people.services.update_person``, source ``customer_service``) or refuse it with a reason.
    An approval records that every recipient of the data must be told (art. 19): each
    processor of the policy (partners get theirs when the disclosure ledger exists). When
    every proposal of the request is decided, the request completes and the person is told."""
    from tillit.people.services import update_person

    _check_desk(actor)
    reason = _text(reason, "reason", 2000)
    if not approve and not reason:
        raise ValidationError("a refusal needs a reason, which we send to the person", field="reason")
    outbox: list[RequestEmail] = []
    with transaction.atomic():
        _check_desk(actor)
        proposal = CorrectionProposal.objects.select_for_update().filter(pk=proposal_id).first()
        if proposal is None:
            raise NotFoundError("no such correction")
        request = _desk_request(actor, proposal.request_id)
        if request.status not in (Status.VERIFIED, Status.IN_PROGRESS):
            raise ConflictError("the request must be verified, and open, before a correction is decided")
        if proposal.status != CorrectionProposal.Status.PROPOSED:
            raise ConflictError("this correction has already been decided")
        if approve:
            person_id = selectors.person_id_for(request.person_pseudonym)
            if person_id is None:
                raise NotFoundError("no such person")
            update_person(
                actor=actor,
                now=now,
                person_id=person_id,
                source="customer_service",
                changes={proposal.field: proposal.proposed_value},
                purpose=PURPOSE,
            )
            _event(request, Event.CORRECTION_APPROVED, actor=actor, now=now, note=proposal.field)
            recipients = _notify_recipients_of_correction(
                actor=actor, now=now, person_id=person_id, field=proposal.field
            )
            if recipients:
                _event(
                    request,
                    Event.RECIPIENTS_NOTIFIED,
                    actor=actor,
                    now=now,
                    note="art. 19: " + ", ".join(recipients),
                )
                request.outcome = {
                    **request.outcome,
                    "recipients_to_notify": sorted({*request.outcome.get("recipients_to_notify", []), *recipients}),
                }
        else:
            _event(request, Event.CORRECTION_REFUSED, actor=actor, now=now, note=f"{proposal.field}: {reason}")
        proposal.status = CorrectionProposal.Status.APPROVED if approve else CorrectionProposal.Status.REFUSED
        proposal.decided_at = now
        proposal.decision_reason = reason
        proposal.proposed_value = ""
        proposal.save(update_fields=["status", "decided_at", "decision_reason", "proposed_value"])
        _audit(actor, now, "rights_correction_decided", request, [proposal.field])
        if not request.corrections.filter(status=CorrectionProposal.Status.PROPOSED).exists():
            contact = selectors.contact_for_pseudonym(request.person_pseudonym)
            request.outcome = {
                **request.outcome,
                "corrections": [
                    {"field": c.field, "status": c.status, "reason": c.decision_reason}
                    for c in request.corrections.order_by("pk")
                ],
            }
            _close(request, Status.COMPLETED, now)
            request.save(update_fields=["status", "closed_at", "details", "verification_digest", "outcome"])
            _event(request, Event.COMPLETED, actor=actor, now=now)
            if contact and contact["email"]:
                outbox.append(_queue_email(request, kind=RequestEmail.Kind.ANSWER, email=contact["email"], now=now))
        else:
            request.save(update_fields=["outcome"])
    _send(outbox)
    return proposal


def _notify_recipients_of_correction(*, actor: Actor, now: dt.datetime, person_id: int, field: str) -> list[str]:
    """Art. 19: every partner that received the corrected data is told, through its channel,
    and retried until it acknowledges (tillit.sharing). Returns the partners' names."""
    from tillit.sharing import services as sharing
    from tillit.sharing import tasks as sharing_tasks

    notices = sharing.notify_partners_of_correction(actor=actor, now=now, person_id=person_id, fields=[field])
    for notice in notices:
        transaction.on_commit(partial(sharing_tasks.deliver_notice.enqueue, notice.pk))
    return sorted({notice.partner.name for notice in notices if notice.partner is not None})


def attach_document(*, actor: Actor, now: dt.datetime, request_id: int, content: bytes) -> SignedDocument:
    """Attach a signed PDF to a request (verification by signed document, §13) and record
    what its signature check found: signed and intact (with the signer and the signing time),
    not signed, changed after signing, or not a readable PDF. At most 10 MiB."""
    _check_desk(actor)
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationError("the document is over 10 MiB", field="document", code="too_large")
    if not content:
        raise ValidationError("choose a PDF file", field="document")
    check = check_pdf_signature(content)
    with transaction.atomic():
        request = _desk_request(actor, request_id)
        _check_open(request)
        digest = hashlib.sha256(content).hexdigest()
        relative = Path("rights") / f"{request.reference}-{digest[:16]}.pdf"
        target = Path(settings.DATA_DIR) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        document = SignedDocument.objects.create(
            request=request,
            uploaded_at=now,
            sha256=digest,
            size=len(content),
            path=str(relative),
            result=check.result,
            signer_subject=check.signer_subject[:300],
            signed_at=check.signed_at,
            is_trusted=check.is_trusted,
        )
        _event(request, Event.DOCUMENT_ATTACHED, actor=actor, now=now, note=check.result)
        _audit(actor, now, "rights_document_attached", request)
    return document


@dataclass(frozen=True)
class SignatureCheck:
    result: str
    signer_subject: str = ""
    signed_at: dt.datetime | None = None
    is_trusted: bool = False


def check_pdf_signature(content: bytes, *, trust_roots: list[Any] | None = None) -> SignatureCheck:
    """Check the signatures of a PDF with pyHanko: the last signature must be intact and
    cryptographically valid and cover the whole file. ``is_trusted`` says whether its
    certificate chains to a trusted root (none are configured: staff judge the signer)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    result = SignedDocument.Result
    if not content.startswith(b"%PDF-"):
        return SignatureCheck(result.UNREADABLE)
    try:
        reader = PdfFileReader(BytesIO(content), strict=False)
        signatures = reader.embedded_signatures
    except Exception:  # pyHanko raises many kinds on a broken file; all mean "unreadable"
        return SignatureCheck(result.UNREADABLE)
    if not signatures:
        return SignatureCheck(result.NOT_SIGNED)
    signature = signatures[-1]
    try:
        status = validate_pdf_signature(
            signature, ValidationContext(trust_roots=trust_roots or [], allow_fetching=False)
        )
    except Exception:  # a signature whose structure is broken is as good as tampered
        return SignatureCheck(result.TAMPERED)
    if not (status.intact and status.valid) or status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return SignatureCheck(result.TAMPERED)
    return SignatureCheck(
        result.SIGNED,
        signer_subject=status.signing_cert.subject.human_friendly,
        signed_at=status.signer_reported_dt,
        is_trusted=bool(status.trusted),
    )
