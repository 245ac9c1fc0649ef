"""Writes of marketing: newsletters and the double opt-in, unsubscribing, campaigns and their
sending, bounce and complaint notices, calls logged from the call list.

Sending (``start_campaign``, ``send_next_batch``): the recipients are written first, as one
``SendRecord`` per person (unique per campaign), in one INSERT ... SELECT from the audience.
Workers then take batches (a short lease, so two workers do not take the same rows), check
the batch against the eligibility rule again (someone who unsubscribed or was suppressed
since is skipped), and hand each message to the SMTP server with the record claimed just
before its last line (``marketing.delivery``, which explains the at-most-once choice). The
claim itself asks the rule once more, for that one person, under a share lock on their row:
an objection, unsubscribe or withdrawal that committed while the batch was sending stops the
message (the record is skipped, never sent). After a
worker died, ``resume_campaign`` releases its batches; records it left "in doubt" are never
sent again.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import getaddresses
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat

from tillit import policy
from tillit.audit import services as audit
from tillit.consent import reservations
from tillit.consent import selectors as consent_selectors
from tillit.consent import services as consent_services
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, NotFoundError, ValidationError
from tillit.core.identifiers import identifier_digest, normalise_email, truncate_ip
from tillit.core.tokens import read_token
from tillit.marketing import delivery, mail, selectors
from tillit.marketing.models import Campaign, DeliveryNotice, NewsletterList, SendRecord, SubscriptionRequest
from tillit.people import services as people_services
from tillit.people.models import Person

# At most this many confirmation emails to one address per day (nobody can flood a mailbox).
MAX_REQUESTS_PER_DAY = 3
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,58}[a-z0-9]$")


def _line(value: Any, field: str, *, max_length: int, required: bool = True) -> str:
    """One line of text for a header or a name: no line breaks or control characters (they
    would let a value add headers to an email)."""
    text = str(value or "").strip()
    if required and not text:
        raise ValidationError("is required", field=field)
    if len(text) > max_length:
        raise ValidationError(f"is at most {max_length} characters", field=field)
    if any(ord(ch) < 32 or ord(ch) == 127 or ch in "\u2028\u2029\x85" for ch in text):
        raise ValidationError("must be one line, without line breaks or control characters", field=field)
    return text


def _texts(values: Any, field: str, *, max_length: int, one_line: bool, required: bool) -> dict[str, str]:
    """Texts per language: the policy's languages only; the default language required."""
    current = policy.current()
    if not isinstance(values, dict):
        raise ValidationError("must give a text per language", field=field)
    unknown = sorted(set(values) - set(current.languages))
    if unknown:
        raise ValidationError(f"unknown language {unknown[0]!r}", field=field)
    clean: dict[str, str] = {}
    for language in current.languages:
        name = f"{field}.{language}"
        raw = values.get(language) or ""
        if one_line:
            text = _line(raw, name, max_length=max_length, required=False)
        else:
            text = str(raw).strip()
            if len(text) > max_length:
                raise ValidationError(f"is at most {max_length} characters", field=name)
            if "\x00" in text:
                raise ValidationError("must not contain control characters", field=name)
        if text:
            clean[language] = text
    if required and current.default_language not in clean:
        raise ValidationError("is required", field=f"{field}.{current.default_language}")
    return clean


def _check_purpose(purpose: str) -> str:
    if purpose not in selectors.campaign_purposes():
        raise ValidationError(f"{purpose!r} is not a marketing purpose that uses email", field="purpose")
    return purpose


# --- Newsletters and the double opt-in -----------------------------------------------------


@transaction.atomic
def create_newsletter(
    *,
    actor: Actor,
    now: dt.datetime,
    key: str,
    name: dict[str, str],
    description: dict[str, str],
    purpose: str = "newsletter",
) -> NewsletterList:
    """Define a newsletter people may subscribe to: a key, a name and a description in every
    language of the policy, and the marketing purpose of the policy it serves."""
    selectors.check_may_run_campaigns(actor)
    key = str(key or "").strip()
    if not KEY_PATTERN.match(key):
        raise ValidationError("3 to 60 lower-case letters, digits and hyphens", field="key")
    _check_purpose(purpose)
    if policy.current().purposes[purpose].bases.get("email") != "consent":
        raise ValidationError("a newsletter needs a purpose that rests on consent by email", field="purpose")
    names = _texts(name, "name", max_length=120, one_line=True, required=True)
    descriptions = _texts(description, "description", max_length=1000, one_line=False, required=False)
    if NewsletterList.objects.filter(key=key).exists():
        raise ConflictError("a newsletter with this key already exists", field="key")
    item = NewsletterList.objects.create(key=key, name=names, description=descriptions, purpose=purpose, created_at=now)
    audit.record(actor=actor, now=now, action="create", subject_type="newsletter", subject_id=item.pk)
    return item


@transaction.atomic
def request_subscription(
    *,
    actor: Actor,
    now: dt.datetime,
    email: str,
    newsletter: str,
    language: str,
    source_kind: str,
    wording: str,
    name: str = "",
    person_id: int | None = None,
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
) -> SubscriptionRequest | None:
    """Someone asks to receive a newsletter (a form, the preference centre). Nothing is
    subscribed yet: a confirmation email goes to the address, and only the click on its link
    subscribes (double opt-in), so nobody can subscribe someone else. Returns None (and sends
    nothing) when the address already had ``MAX_REQUESTS_PER_DAY`` confirmations today; the
    person asking is told the same either way."""
    address = normalise_email(email)
    listed = selectors.newsletter(newsletter)
    name = _line(name, "name", max_length=200, required=False)
    wording = (wording or "").strip()
    if not wording or len(wording) > 5000:
        raise ValidationError("the exact wording shown to the person is required", field="wording")
    if language not in policy.current().languages:
        language = policy.current().default_language
    if source_kind not in consent_services.SOURCE_KINDS:
        raise ValidationError(f"unknown source {source_kind!r}", field="source_kind")
    recent = SubscriptionRequest.objects.filter(email=address, requested_at__gt=now - dt.timedelta(days=1)).count()
    if recent >= MAX_REQUESTS_PER_DAY:
        return None
    request = SubscriptionRequest.objects.create(
        newsletter=listed,
        person_id=person_id,
        email=address,
        name=name,
        language=language,
        source_kind=source_kind,
        wording=wording,
        requested_at=now,
        evidence_ip=truncate_ip(evidence_ip),
        evidence_user_agent=(evidence_user_agent or "")[:300],
    )
    audit.record(actor=actor, now=now, action="subscription_requested", subject_type="newsletter", subject_id=listed.pk)
    message = mail.confirmation_message(
        email=address,
        name=name,
        language=language,
        request_id=request.pk,
        newsletter_name=selectors.label(listed.name, language),
    )
    message.send()  # an SMTP failure rolls the request back: nothing half-written
    return request


@transaction.atomic
def request_subscription_for_person(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    newsletter: str,
    language: str,
    wording: str,
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
) -> SubscriptionRequest | None:
    """Subscribing from the preference centre: the same double opt-in, to the address we hold."""
    person = Person.objects.filter(pk=person_id).values("email", "name").first()
    if person is None or not person["email"]:
        raise NotFoundError("there is no email address to send a confirmation to")
    return request_subscription(
        actor=actor,
        now=now,
        email=person["email"],
        name=person["name"],
        newsletter=newsletter,
        language=language,
        source_kind="preference_centre",
        wording=wording,
        person_id=person_id,
        evidence_ip=evidence_ip,
        evidence_user_agent=evidence_user_agent,
    )


@dataclass(frozen=True)
class Confirmation:
    subscribed: bool
    newsletter: NewsletterList
    already: bool = False


@transaction.atomic
def confirm_subscription(
    *,
    actor: Actor,
    now: dt.datetime,
    request_id: int,
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
) -> Confirmation:
    """The click on the confirmation link: the person is registered (if new) and subscribed,
    and the consent ledger records it with the wording they were shown, where and when they
    asked and when they confirmed. A link works once; a second click changes nothing."""
    request = (
        SubscriptionRequest.objects.select_for_update(of=("self",))
        .select_related("newsletter")
        .filter(pk=request_id)
        .first()
    )
    if request is None or (
        request.confirmed_at is None and request.requested_at < now - dt.timedelta(days=mail.CONFIRM_DAYS)
    ):
        raise NotFoundError("this confirmation link is no longer valid")
    if request.confirmed_at is not None:
        return Confirmation(subscribed=False, newsletter=request.newsletter, already=True)
    if request.newsletter.archived_at is not None:
        raise NotFoundError("this newsletter is no longer sent")
    person_id = Person.objects.filter(email=request.email).values_list("pk", flat=True).first()
    if person_id is None:
        person_id = people_services.create_person(
            actor=actor,
            now=now,
            source="form",
            values={
                "name": request.name or request.email.partition("@")[0],
                "email": request.email,
                "language": request.language,
            },
        ).pk
    opened = consent_services.open_subscription(
        actor=actor,
        now=now,
        person_id=person_id,
        newsletter=request.newsletter.key,
        source_kind="double_opt_in",
        wording=request.wording,
        language=request.language,
        source_ref=(
            f"newsletter {request.newsletter.key}; asked {request.requested_at:%Y-%m-%dT%H:%M:%SZ} "
            f"({request.source_kind}), confirmed by the link sent to the address"
        ),
        evidence_ip=evidence_ip,
        evidence_user_agent=evidence_user_agent,
    )
    request.confirmed_at = now
    request.person_id = person_id
    request.save(update_fields=["confirmed_at", "person"])
    return Confirmation(subscribed=opened, newsletter=request.newsletter, already=not opened)


def forget_unconfirmed_requests(*, actor: Actor, now: dt.datetime) -> int:
    """Delete the requests whose link expired unclicked (we keep no address nobody confirmed),
    and confirmed ones after the link's lifetime (the ledger holds the evidence)."""
    deleted, _ = SubscriptionRequest.objects.filter(
        requested_at__lt=now - dt.timedelta(days=mail.CONFIRM_DAYS)
    ).delete()
    if deleted:
        audit.record(
            actor=actor,
            now=now,
            action="erase",
            subject_type="subscription_requests",
            subject_id=None,
            fields=[f"requests:{deleted}"],
        )
    return deleted


def unsubscribe(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    newsletter: str | None,
    purpose: str | None,
    source_kind: str,
    language: str,
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
) -> bool:
    """The unsubscribe link of a marketing email: from the newsletter it came from, or (a
    direct marketing email) from that purpose by email. Takes effect at once: the next batch
    of any send checks the rule again. Returns False if there was nothing to stop."""
    evidence: dict[str, Any] = {"evidence_ip": evidence_ip, "evidence_user_agent": evidence_user_agent}
    if newsletter:
        return consent_services.end_subscription(
            actor=actor,
            now=now,
            person_id=person_id,
            newsletter=newsletter,
            source_kind=source_kind,
            language=language,
            source_ref=f"newsletter {newsletter}",
            **evidence,
        )
    return consent_services.opt_out(
        actor=actor,
        now=now,
        person_id=person_id,
        purpose=_check_purpose(purpose or ""),
        channel="email",
        source_kind=source_kind,
        language=language,
        **evidence,
    )


def send_preference_link(*, actor: Actor, now: dt.datetime, email: str, language: str) -> bool:
    """Someone without the original email asks for the link to their choices: it is sent to
    the address, if we hold it. The caller answers the same either way (it must not tell who
    is in the customer system). Returns whether a link was sent."""
    try:
        address = normalise_email(email)
    except ValidationError:
        return False
    person = Person.objects.filter(email=address).values("pk", "name", "language", "pseudonym").first()
    if person is None:
        return False
    mail.preference_link_message(
        email=address, name=person["name"], language=person["language"] or language, pseudonym=str(person["pseudonym"])
    ).send()
    audit.record(actor=actor, now=now, action="preference_link_sent", subject_type="person", subject_id=person["pk"])
    return True


# --- Campaigns ------------------------------------------------------------------------------


def _campaign_values(values: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {"name": _line(values.get("name"), "name", max_length=200)}
    newsletter_key = (values.get("newsletter") or "").strip()
    if newsletter_key:
        listed = NewsletterList.objects.filter(key=newsletter_key, archived_at=None).first()
        if listed is None:
            raise ValidationError("there is no newsletter with this key", field="newsletter")
        clean["newsletter"] = listed
        clean["purpose"] = listed.purpose
    else:
        clean["newsletter"] = None
        clean["purpose"] = _check_purpose((values.get("purpose") or "").strip())
        if clean["purpose"] == "newsletter":
            raise ValidationError(
                "a newsletter campaign goes to a newsletter's subscribers: pick one", field="newsletter"
            )
    clean["interest"] = _line(values.get("interest") or "", "interest", max_length=100, required=False)
    products = values.get("products") or []
    if not isinstance(products, list | tuple) or not all(isinstance(k, str) for k in products):
        raise ValidationError("expected a list of product or product category keys", field="products")
    consent_selectors.check_products(products)
    clean["products"] = list(dict.fromkeys(products))
    clean["subjects"] = _texts(values.get("subjects") or {}, "subjects", max_length=200, one_line=True, required=True)
    clean["bodies_text"] = _texts(
        values.get("bodies_text") or {}, "bodies_text", max_length=100_000, one_line=False, required=True
    )
    clean["bodies_html"] = _texts(
        values.get("bodies_html") or {}, "bodies_html", max_length=200_000, one_line=False, required=False
    )
    for language in clean["subjects"]:
        if language not in clean["bodies_text"]:
            raise ValidationError("a subject needs a text in the same language", field=f"bodies_text.{language}")
    for language in clean["bodies_text"]:
        if language not in clean["subjects"]:
            raise ValidationError("a text needs a subject in the same language", field=f"subjects.{language}")
    return clean


@transaction.atomic
def create_campaign(*, actor: Actor, now: dt.datetime, values: dict[str, Any]) -> Campaign:
    """Write a campaign (a draft): name; a newsletter, or a purpose (a segment of everyone the
    rule allows, optionally only those interested in a product); the products or product
    categories of the policy it markets (the existing-customer exception reaches only buyers of
    similar products); subject and plain text per
    language (the default language required), HTML optional. Subjects and names are one line:
    a line break would let them add headers to the email."""
    selectors.check_may_run_campaigns(actor)
    item = Campaign.objects.create(created_at=now, created_by_id=actor.user_id, **_campaign_values(values))
    audit.record(actor=actor, now=now, action="create", subject_type="campaign", subject_id=item.pk)
    return item


@transaction.atomic
def update_campaign(*, actor: Actor, now: dt.datetime, campaign_id: int, values: dict[str, Any]) -> Campaign:
    selectors.check_may_run_campaigns(actor)
    item = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if item is None:
        raise NotFoundError("no such campaign")
    if item.status != Campaign.Status.DRAFT:
        raise ConflictError("a campaign that was sent cannot be changed")
    for key, value in _campaign_values(values).items():
        setattr(item, key, value)
    item.save()
    audit.record(actor=actor, now=now, action="update", subject_type="campaign", subject_id=item.pk)
    return item


def _materialise_recipients(item: Campaign) -> int:
    """One send record per person the campaign may reach now, in one INSERT ... SELECT."""
    nonce = secrets.token_hex(6)
    domain = mail.own_domain()
    rows = (
        selectors.campaign_audience(item)
        .order_by()
        .values_list(
            Value(item.pk),
            "pk",
            Value(SendRecord.Status.PENDING),
            Value(""),
            Concat(
                Value(f"<{nonce}.{item.pk}."), Cast("pk", CharField()), Value(f"@{domain}>"), output_field=CharField()
            ),
        )
    )
    sql, params = rows.query.sql_with_params()
    table = SendRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, person_id, status, reason, message_id) {sql}",
            params,
        )
        return cursor.rowcount


@transaction.atomic
def start_campaign(*, actor: Actor, now: dt.datetime, campaign_id: int, workers: int = 2) -> int:
    """Send a campaign: its recipients are fixed now (everyone the rule allows now, never
    anyone suppressed), one send record each; the sending itself runs in the background
    (``send_next_batch``), which checks the rule again before every batch. A campaign to an
    empty or unknown list is refused with a message. Returns the number of recipients."""
    selectors.check_may_run_campaigns(actor)
    item = Campaign.objects.select_for_update(of=("self",)).select_related("newsletter").filter(pk=campaign_id).first()
    if item is None:
        raise NotFoundError("no such campaign")
    if item.status != Campaign.Status.DRAFT:
        raise ConflictError("this campaign has already been sent")
    if item.newsletter is not None and item.newsletter.archived_at is not None:
        raise ValidationError("the newsletter of this campaign is no longer sent", field="newsletter")
    count = _materialise_recipients(item)
    if count == 0:
        what = "the newsletter has no subscriber" if item.newsletter else "nobody in the segment"
        raise ValidationError(f"nobody to send to: {what} may be emailed for this purpose now", field="newsletter")
    item.status, item.started_at, item.recipients = Campaign.Status.SENDING, now, count
    item.save(update_fields=["status", "started_at", "recipients"])
    transaction.on_commit(lambda: _enqueue_sending(item.pk, workers))
    audit.record(
        actor=actor,
        now=now,
        action="campaign_started",
        subject_type="campaign",
        subject_id=item.pk,
        fields=[f"recipients:{count}"],
    )
    return count


@transaction.atomic
def resume_campaign(*, actor: Actor, now: dt.datetime, campaign_id: int, workers: int = 2) -> int:
    """After a worker died: release the batches it had taken so any worker may send them.
    Safe while the old worker still runs (a row is only ever sent in the transaction that
    marks it), and enqueue the sending again. Returns the number of messages still to send."""
    selectors.check_may_run_campaigns(actor)
    item = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if item is None:
        raise NotFoundError("no such campaign")
    if item.status != Campaign.Status.SENDING:
        raise ConflictError("only a campaign being sent can be resumed")
    # In doubt: handed to the server when the worker died. Never sent again (at most once).
    SendRecord.objects.filter(campaign_id=campaign_id, status=SendRecord.Status.SENDING).update(
        status=SendRecord.Status.SENT, reason="unconfirmed"
    )
    pending = SendRecord.objects.filter(campaign_id=campaign_id, status=SendRecord.Status.PENDING)
    pending.exclude(lease_until=None).update(lease_until=None)
    audit.record(actor=actor, now=now, action="campaign_resumed", subject_type="campaign", subject_id=item.pk)
    transaction.on_commit(lambda: _enqueue_sending(item.pk, workers))
    return pending.count()


def _enqueue_sending(campaign_id: int, workers: int) -> None:
    from tillit.marketing.tasks import enqueue_sending  # the task module imports this one

    enqueue_sending(campaign_id, workers)


@dataclass
class BatchResult:
    """What one batch did; ``finished`` when there is nothing left for this worker."""

    sent: int = 0
    skipped: int = 0
    failed: int = 0
    finished: bool = False
    errors: list[str] = field(default_factory=list)


def templates_for(item: Campaign) -> dict[str, mail.CampaignTemplate]:
    """The campaign rendered once per language it is written in."""
    key = item.newsletter.key if item.newsletter else None
    return {
        language: mail.campaign_template(
            language=language,
            subject=subject,
            text=item.bodies_text[language],
            html=item.bodies_html.get(language, ""),
            newsletter=key,
            newsletter_name=selectors.label(item.newsletter.name, language) if item.newsletter else "",
            purpose=item.purpose,
        )
        for language, subject in item.subjects.items()
    }


def _take_batch(item: Campaign, now: dt.datetime, size: int) -> list[int]:
    with transaction.atomic():
        ids = list(
            SendRecord.objects.select_for_update(skip_locked=True)
            .filter(campaign_id=item.pk, status=SendRecord.Status.PENDING)
            .filter(Q(lease_until=None) | Q(lease_until__lt=now))
            .order_by("pk")
            .values_list("pk", flat=True)[:size]
        )
        if ids:
            SendRecord.objects.filter(pk__in=ids).update(
                lease_until=now + dt.timedelta(seconds=selectors.LEASE_SECONDS)
            )
    return ids


def _finish_if_done(item: Campaign, now: dt.datetime) -> bool:
    """Mark the campaign sent once no recipient is pending (any worker may be the last)."""
    if SendRecord.objects.filter(campaign_id=item.pk, status=SendRecord.Status.PENDING).exists():
        return False
    Campaign.objects.filter(pk=item.pk, status=Campaign.Status.SENDING).update(
        status=Campaign.Status.SENT, finished_at=now
    )
    return True


class _EligibleOne:
    """The campaign's audience query (``selectors.campaign_audience``: the eligibility rule in
    SQL, one home), limited to one person, compiled once per batch and re-used for every
    message's claim with that person's id put in."""

    _MARK = -7_345_912_017_263  # never an id: stands for the person while compiling

    def __init__(self, item: Campaign) -> None:
        self._item = item
        compiled = selectors.campaign_audience(item).filter(pk=self._MARK).order_by().values("pk")
        self._sql, params = compiled.query.sql_with_params()
        self._params = list(params)
        self._slots = [i for i, value in enumerate(self._params) if value == self._MARK]
        if len(self._slots) != 1:  # pragma: no cover (a query the compiler shaped unexpectedly)
            raise RuntimeError("the audience query could not be limited to one person")

    def query(self, person_id: int) -> QuerySet[Person, Any]:
        return selectors.campaign_audience(self._item).filter(pk=person_id).order_by().values("pk")

    def recheck(self, person_id: int) -> delivery.Recheck:
        params = list(self._params)
        params[self._slots[0]] = person_id
        return delivery.Recheck(
            person_table=Person._meta.db_table, person_id=person_id, eligible_sql=self._sql, eligible_params=params
        )


def send_next_batch(
    *,
    actor: Actor,
    now: dt.datetime,
    campaign_id: int,
    mail_connection: Any,
    batch_size: int = 100,
    templates: dict[str, mail.CampaignTemplate] | None = None,
) -> BatchResult:
    """Send one batch of a campaign over ``mail_connection`` (an open Django email backend).
    The batch is checked against the eligibility rule first (the audience query, limited to
    the batch); everyone no longer allowed is skipped and never sent. Then each message is sent
    in its own transaction (see the module's docstring for why this is exactly once), claimed
    only if the rule still allows the person at that moment (``delivery.Recheck``)."""
    item = Campaign.objects.select_related("newsletter").filter(pk=campaign_id).first()
    if item is None or item.status != Campaign.Status.SENDING:
        return BatchResult(finished=True)
    ids = _take_batch(item, now, batch_size)
    if not ids:
        _finish_if_done(item, now)
        return BatchResult(finished=True)
    result = BatchResult()
    records = list(
        SendRecord.objects.filter(pk__in=ids, status=SendRecord.Status.PENDING).values_list(
            "pk", "person_id", "message_id"
        )
    )
    person_ids = [person_id for _, person_id, _ in records]
    allowed = {
        row[0]: row
        for row in selectors.campaign_audience(item)
        .filter(pk__in=person_ids)
        .values_list("pk", "email", "name", "language", "pseudonym", "send_reason")  # type: ignore[misc]  # send_reason: annotated by the audience query
    }
    refused = [pk for pk, person_id, _ in records if person_id not in allowed]
    if refused:
        result.skipped = SendRecord.objects.filter(pk__in=refused, status=SendRecord.Status.PENDING).update(
            status=SendRecord.Status.SKIPPED, reason="not_allowed", lease_until=None
        )
    templates = templates or templates_for(item)
    default = policy.current().default_language
    eligible = _EligibleOne(item)
    for pk, person_id, message_id in records:
        if person_id not in allowed:
            continue
        _, email, name, language, pseudonym, basis = allowed[person_id]
        template = templates.get(language) or templates[default]
        recipient = {"email": str(email), "name": name, "pseudonym": str(pseudonym), "message_id": message_id}
        row = SendRecord.objects.filter(pk=pk)

        claim = partial(
            delivery.claim_record,
            table=SendRecord._meta.db_table,
            pk=pk,
            now=now,
            basis=basis,
            recheck=eligible.recheck(person_id),
        )
        outcome = delivery.send(
            mail_connection,
            template.envelope(**recipient),
            claim,
            partial(template.message, **recipient),
        )
        if outcome == delivery.CLAIMED:
            row.filter(status=SendRecord.Status.SENDING).update(status=SendRecord.Status.SENT)
            result.sent += 1
        elif outcome == delivery.TAKEN:
            # Not claimed: another worker has it, or the rule no longer allows the person (an
            # objection, unsubscribe or withdrawal committed while the batch was sending).
            # The latter is never sent: skipped, in one statement that asks the rule again.
            result.skipped += (
                row.filter(status=SendRecord.Status.PENDING)
                .exclude(person_id__in=eligible.query(person_id))
                .update(status=SendRecord.Status.SKIPPED, reason="not_allowed", lease_until=None)
            )
        elif outcome in (delivery.REFUSED, delivery.REJECTED):
            row.filter(status__in=[SendRecord.Status.PENDING, SendRecord.Status.SENDING]).update(
                status=SendRecord.Status.FAILED, reason="refused", lease_until=None
            )
            result.failed += 1
    audit.record(
        actor=actor,
        now=now,
        action="campaign_batch",
        subject_type="campaign",
        subject_id=item.pk,
        fields=[f"sent:{result.sent}", f"skipped:{result.skipped}", f"failed:{result.failed}"],
    )
    return result


# --- Bounces and complaints -----------------------------------------------------------------


@dataclass(frozen=True)
class NoticeResult:
    kind: str  # bounce | complaint | unsubscribe
    status: str
    suppressed: bool
    campaign_id: int | None


_STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")


def _parts(message: EmailMessage, content_type: str) -> list[Any]:
    return [part for part in message.walk() if part.get_content_type() == content_type]


def _headers_of(part: Any) -> list[Any]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload
    text = payload if isinstance(payload, str) else part.get_payload(decode=True).decode("utf-8", "replace")
    blocks = [b for b in re.split(r"\r?\n\r?\n", text.strip()) if b.strip()]
    return [message_from_bytes(block.encode("utf-8"), policy=email_policy.default) for block in blocks]


def _address(value: str | None) -> str | None:
    """The address of a ``rfc822; a@b`` field or of a header."""
    if not value:
        return None
    text = str(value)
    if ";" in text:
        text = text.split(";", 1)[1]
    found = [a for _, a in getaddresses([text.strip()]) if "@" in a]
    if not found:
        return None
    try:
        return normalise_email(found[0])
    except ValidationError:
        return None


def _original_message_id(message: EmailMessage) -> str | None:
    for kind in ("message/rfc822", "text/rfc822-headers"):
        for part in _parts(message, kind):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if inner is None:
                raw = part.get_payload(decode=True) or b""
                inner = message_from_bytes(raw, policy=email_policy.default)
            if inner.get("Message-ID"):
                return str(inner["Message-ID"]).strip()
    return None


_UNSUBSCRIBE_SUBJECT = re.compile(r"^\s*unsubscribe\s+(\S{10,2000})\s*$", re.IGNORECASE)


def _unsubscribe_by_email(*, actor: Actor, now: dt.datetime, token: str) -> NoticeResult:
    """The mailto: of ``List-Unsubscribe`` (RFC 2369): an email whose subject is "unsubscribe"
    and the token of that email's unsubscribe link. It works exactly as the link does, for as
    long (never expires); a forged token is refused, an erased person is a no-op."""
    payload = read_token(mail.UNSUBSCRIBE_USE, token, max_age_seconds=None)
    person_id = consent_selectors.person_id_for_pseudonym(str(payload.get("p", "")))
    changed = False
    if person_id is not None:
        language = consent_selectors.own_choices(person_id=person_id)["language"]
        changed = unsubscribe(
            actor=actor,
            now=now,
            person_id=person_id,
            newsletter=payload.get("l"),
            purpose=payload.get("u"),
            source_kind="email_reply",
            language=language,
        )
    status = "unsubscribed" if changed else ""
    return NoticeResult(kind="unsubscribe", status=status, suppressed=False, campaign_id=None)


@transaction.atomic
def record_delivery_notice(*, actor: Actor, now: dt.datetime, raw: bytes) -> NoticeResult:
    """Take a bounce (a DSN, RFC 3464) or a complaint (an ARF feedback report, RFC 5965) in
    RFC 822 form and stop sending to the address: a permanent failure or a complaint puts it on
    the suppression list (a keyed hash), which every send and the audience check. A temporary
    failure (4.x.x) is recorded and suppresses nothing. The campaign is found from the
    original Message-ID, when the notice quotes it. An email to the ``List-Unsubscribe``
    mailto: address (subject "unsubscribe TOKEN") unsubscribes as the link would. Anything
    else is refused with a message."""
    selectors.check_may_run_campaigns(actor)
    if not raw or len(raw) > 10 * 2**20:
        raise ValidationError("send one message in RFC 822 form (at most 10 MiB)", field="message")
    message = message_from_bytes(raw, policy=email_policy.default)
    content_type = message.get_content_type()
    param = message.get_param("report-type") if content_type == "multipart/report" else None
    report_type = param.lower() if isinstance(param, str) else ""
    address: str | None = None
    status = ""
    if report_type == "delivery-status":
        kind = DeliveryNotice.Kind.BOUNCE
        parts = _parts(message, "message/delivery-status")
        if not parts:
            raise ValidationError(
                "a delivery status notification without its message/delivery-status part", field="message"
            )
        permanent = False
        for block in _headers_of(parts[0])[1:] or _headers_of(parts[0]):
            recipient = _address(block.get("Final-Recipient")) or _address(block.get("Original-Recipient"))
            if recipient is None:
                continue
            action = str(block.get("Action") or "").strip().lower()
            found = _STATUS.search(str(block.get("Status") or ""))
            status = found.group(0) if found else status
            address = recipient
            permanent = action == "failed" and (found is None or found.group(1) == "5")
            if permanent:
                break
        if address is None:
            raise ValidationError("the notification names no recipient (Final-Recipient)", field="message")
    elif report_type == "feedback-report":
        kind = DeliveryNotice.Kind.COMPLAINT
        parts = _parts(message, "message/feedback-report")
        if not parts:
            raise ValidationError("a feedback report without its message/feedback-report part", field="message")
        fields = _headers_of(parts[0])[0]
        status = str(fields.get("Feedback-Type") or "abuse").strip().lower()[:20]
        address = _address(fields.get("Original-Rcpt-To"))
        if address is None:
            for part in _parts(message, "message/rfc822") + _parts(message, "text/rfc822-headers"):
                payload = part.get_payload()
                inner = payload[0] if isinstance(payload, list) and payload else None
                if inner is not None:
                    address = _address(inner.get("To"))
        if address is None:
            raise ValidationError("the report names no recipient (Original-Rcpt-To or To)", field="message")
        permanent = True
    elif (asked := _UNSUBSCRIBE_SUBJECT.match(str(message.get("Subject") or ""))) is not None:
        return _unsubscribe_by_email(actor=actor, now=now, token=asked.group(1))
    else:
        raise ValidationError(
            "not a bounce (multipart/report; report-type=delivery-status), a complaint "
            "(multipart/report; report-type=feedback-report) or an unsubscribe request (Subject: unsubscribe TOKEN)",
            field="message",
        )
    message_id = _original_message_id(message)
    record = SendRecord.objects.filter(message_id=message_id).first() if message_id else None
    campaign_id = record.campaign_id if record is not None else None
    DeliveryNotice.objects.create(
        kind=kind,
        digest=identifier_digest("email", address, key=settings.TILLIT_IDENTIFIER_KEY),
        status=status,
        campaign_id=campaign_id,
        received_at=now,
    )
    suppressed = False
    if permanent:
        consent_services.suppress(now=now, email=address, phone=None, reason=kind)
        suppressed = True
        if record is not None:
            SendRecord.objects.filter(pk=record.pk).update(status=SendRecord.Status.BOUNCED, reason=kind)
    audit.record(
        actor=actor,
        now=now,
        action=f"delivery_{kind}",
        subject_type="campaign",
        subject_id=campaign_id,
        fields=[status] if status else [],
    )
    return NoticeResult(kind=kind, status=status, suppressed=suppressed, campaign_id=campaign_id)


# --- Calls from the call list ---------------------------------------------------------------


def log_call(
    *, actor: Actor, now: dt.datetime, person_id: int, purpose: str | None, reached: bool, summary: str = ""
) -> int:
    """A call made from the call list goes on the person's timeline as an interaction (an
    answered call is contact the person took part in: it moves the retention clock, §9). It is
    recorded under the call's purpose if the role keeps calls for it, else under the role's
    purpose that keeps calls (a marketing call the person takes becomes a sales dialogue)."""
    purpose = selectors.checked_call_purpose(actor, purpose)
    if not selectors.callable_people(purpose).filter(pk=person_id).exists():
        raise NotFoundError("this person is not on the call list")
    if not policy.current().purposes[purpose].marketing:
        return people_services.record_interaction(
            actor=actor,
            now=now,
            person_id=person_id,
            kind="call",
            direction="outbound",
            reached=reached,
            summary=summary,
            purpose=selectors.call_log_purpose(actor, purpose),
        ).pk
    # A marketing call (markedsføringsloven §§12, 14): checked against the register data in
    # force and the calling hours; refused if it breaks them, else the check is stored with it.
    check, extract = reservations.check_marketing_call(now=now, person_id=person_id)
    if not check.allowed or extract is None:
        raise ValidationError(refusal_message(check), field="called_at", code=f"telemarketing_{check.reason}")
    with transaction.atomic():
        interaction = people_services.record_interaction(
            actor=actor,
            now=now,
            person_id=person_id,
            kind="call",
            direction="outbound",
            reached=reached,
            summary=summary,
            purpose=selectors.call_log_purpose(actor, purpose),
        )
        reservations.record_marketing_call_check(
            now=now,
            person_id=person_id,
            interaction_id=interaction.pk,
            purpose=purpose,
            extract=extract,
            within_hours=check.within_hours,
        )
    return interaction.pk


def refusal_message(check: Any) -> str:
    """Why a marketing call may not be made now, for staff (a ``telemarketing.CallCheck``)."""
    import zoneinfo

    from django.utils import timezone as django_timezone
    from django.utils.translation import gettext as _

    if check.reason == "register_missing":
        return _("Marketing calls are refused: no extract of the Reservasjonsregisteret has been imported.")
    if check.reason == "register_stale":
        return _(
            "Marketing calls are refused: the Reservasjonsregisteret extract is older than the law allows. "
            "Import a current one."
        )
    if check.reason == "register_unchecked":
        return _("Marketing calls are refused: this number was not checked against the Reservasjonsregisteret.")
    if check.may_start_at is not None:
        rules = policy.current().telemarketing
        zone = rules.timezone if rules else "UTC"
        local = django_timezone.localtime(check.may_start_at, timezone=zoneinfo.ZoneInfo(zone))
        return _("Marketing calls are not permitted now; calls may start at %(start)s.") % {
            "start": local.strftime("%Y-%m-%d %H:%M")
        }
    return _("Marketing calls are not permitted now.")
