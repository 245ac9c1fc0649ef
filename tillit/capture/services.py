"""Writes for what comes in from outside (policy §4, §6, §9): forms and their submissions,
material and downloads, orders and services.

Services are keyword-only, take ``actor`` and ``now``, run in one transaction and audit. The
person behind a form, a chat or a download acts as a ``data_subject`` actor; staff and API
clients define forms and record orders within what the policy gives their role (§10).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import translation
from django.utils.translation import gettext as _

from tillit import policy
from tillit.audit import services as audit
from tillit.capture import visits
from tillit.capture.models import Form, FormIntake, FormSubmission, Material, OrderLine, ServiceSubscription
from tillit.consent import services as consent_services
from tillit.consent.models import ConsentEvent, SuppressionEntry
from tillit.consent.selectors import ALL_CHANNELS
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError, ValidationError
from tillit.core.identifiers import identifier_digests, truncate_ip
from tillit.core.tokens import TokenError, make_token, read_token
from tillit.people import services as people
from tillit.people.models import Person, ProductInterest
from tillit.policy import capture as rules
from tillit.policy import retention as retention_rules
from tillit.retention import selectors as retention_selectors
from tillit.retention import services as retention

logger = logging.getLogger(__name__)

MAX_FIELD_LENGTHS = {
    "name": 200,
    "email": 254,
    "phone": 32,
    "organisation": 200,
    "position": 200,
    "industry": 100,
    "message": 5000,
    "question": 5000,
}
FREE_TEXT_FIELDS = ("message", "question")
MAX_FIELDS = 20
MAX_OPTIONS = 50
# The hidden field a person never sees and a spam robot fills in (the honeypot).
HONEYPOT_FIELD = "website"
FORM_SOURCES = ("form", "event", "partner_event")
DOWNLOAD_USE = "capture.download"
DOWNLOAD_DAYS = 90
# The consent box whose tick lets the visits of the submitting browser be linked to the person.
VISITS_BOX = (rules.VISITS_PURPOSE, rules.VISITS_CHANNEL)


@dataclass(frozen=True)
class Sender:
    """What came with a submission besides the answers, from the request that carried it: the
    IP address (shortened before it is kept), the user agent, the browser's first-party ids
    (the browser id of its cookie choice, the statistics visitor id) and whether it sent Global
    Privacy Control (``Sec-GPC: 1``)."""

    ip: str | None = None
    user_agent: str = ""
    browser_id: uuid.UUID | None = None
    visitor_id: uuid.UUID | None = None
    gpc: bool = False


def consent_key(purpose: str, channel: str) -> str:
    """The name of a consent box's input: ``consent_<purpose>_<channel>``."""
    return f"consent_{purpose}_{channel}"


def _check_forms_tool(actor: Actor) -> None:
    if actor.kind != "system" and not rules.may_manage_forms(policy.current(), actor.role):
        raise PermissionDeniedError("your role may not define forms or material")


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


# --- defining forms ------------------------------------------------------------------------------


def default_label(field: str, language: str) -> str:
    """The label of a form field in ``language`` (staff may write their own)."""
    labels = {
        "name": _("Name"),
        "email": _("Email"),
        "phone": _("Phone"),
        "organisation": _("Organisation"),
        "position": _("Position"),
        "industry": _("Industry"),
        "product_interests": _("Products you are interested in"),
        "message": _("Message"),
        "question": _("Your question"),
    }
    with translation.override(language):
        return str(labels[field])


def default_consent_wording(purpose: str, channel: str, language: str) -> str:
    """The wording of a consent box, from the policy's own labels in the form's language: who
    asks (the controller), for what purpose, by which channel, and that it can be withdrawn at
    any time (GDPR art. 7(3); checklist 9)."""
    current = policy.current()
    purpose_label = current.purposes[purpose].label
    channel_label = current.channels[channel].label
    with translation.override(language):
        if (purpose, channel) == (rules.VISITS_PURPOSE, rules.VISITS_CHANNEL):
            return _(
                "Yes, %(controller)s may link my visits to this website to me, for: %(purpose)s. "
                "I can withdraw this consent at any time."
            ) % {"controller": current.controller.name, "purpose": purpose_label.get(language, purpose_label["en"])}
        return _(
            "Yes, %(controller)s may use my data for: %(purpose)s (by %(channel)s). "
            "I can withdraw this consent at any time."
        ) % {
            "controller": current.controller.name,
            "purpose": purpose_label.get(language, purpose_label["en"]),
            "channel": channel_label.get(language, channel_label["en"]).lower(),
        }


def _clean_fields(fields: Sequence[Mapping[str, Any]], language: str) -> list[dict[str, Any]]:
    if not isinstance(fields, list | tuple) or not fields:
        raise ValidationError("a form asks for at least an email address", field="fields")
    if len(fields) > MAX_FIELDS:
        raise ValidationError(f"a form has at most {MAX_FIELDS} fields", field="fields")
    clean: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(fields):
        if not isinstance(item, Mapping):
            raise ValidationError("each field is an object with a name", field=f"fields.{i}")
        name = item.get("name")
        if name not in rules.FORM_FIELDS:
            raise ValidationError(
                f"unknown field (expected one of: {', '.join(rules.FORM_FIELDS)})", field=f"fields.{i}.name"
            )
        if name in seen:
            raise ValidationError("the form asks for this field twice", field=f"fields.{i}.name")
        seen.add(name)
        label = _text(item.get("label") or "", f"fields.{i}.label", max_length=200) or default_label(name, language)
        entry: dict[str, Any] = {
            "name": name,
            "label": label,
            "required": bool(item.get("required")) or name == "email",
        }
        if name == "product_interests":
            options = item.get("options") or []
            if not isinstance(options, list) or not options or len(options) > MAX_OPTIONS:
                raise ValidationError(
                    f"product interests need 1 to {MAX_OPTIONS} products to choose from", field=f"fields.{i}.options"
                )
            entry["options"] = list(dict.fromkeys(_text(o, f"fields.{i}.options", max_length=100) for o in options))
        clean.append(entry)
    if "email" not in seen:
        raise ValidationError("a form must ask for the email address (one person per address)", field="fields")
    if "name" not in seen:
        raise ValidationError("a form must ask for the name", field="fields")
    for entry in clean:
        if entry["name"] == "name":
            entry["required"] = True
    return clean


def _clean_consents(consents: Sequence[Mapping[str, Any]], language: str) -> list[dict[str, str]]:
    if not isinstance(consents, list | tuple):
        raise ValidationError("must be a list", field="consents")
    allowed = rules.form_consent_boxes(policy.current())
    clean: list[dict[str, str]] = []
    for i, item in enumerate(consents):
        if not isinstance(item, Mapping):
            raise ValidationError("each consent box is an object with a purpose and a channel", field=f"consents.{i}")
        pair = (item.get("purpose"), item.get("channel") or "email")
        if pair not in allowed:
            choices = ", ".join(f"{p}/{c}" for p, c in allowed)
            raise ValidationError(f"a form may ask for consent only to: {choices}", field=f"consents.{i}.purpose")
        if any((c["purpose"], c["channel"]) == pair for c in clean):
            raise ValidationError("the form has this consent box twice", field=f"consents.{i}.purpose")
        purpose, channel = str(pair[0]), str(pair[1])
        wording = _text(item.get("wording") or "", f"consents.{i}.wording", max_length=2000)
        clean.append(
            {
                "purpose": purpose,
                "channel": channel,
                "wording": wording or default_consent_wording(purpose, channel, language),
            }
        )
    return clean


def _clean_definition(
    *, name: str, language: str, source: str, fields: Any, consents: Any, material_id: int | None
) -> dict[str, Any]:
    current = policy.current()
    if language not in current.languages:
        raise ValidationError(f"must be one of: {', '.join(current.languages)}", field="language")
    if source not in FORM_SOURCES or source not in current.sources:
        raise ValidationError(f"must be one of: {', '.join(FORM_SOURCES)}", field="source")
    if material_id is not None and not Material.objects.filter(pk=material_id).exists():
        raise ValidationError("no such material", field="material_id")
    return {
        "name": _text(name, "name", max_length=200, required=True),
        "language": language,
        "source": source,
        "fields": _clean_fields(fields, language),
        "consents": _clean_consents(consents, language),
        "material_id": material_id,
    }


@transaction.atomic
def create_form(
    *,
    actor: Actor,
    now: dt.datetime,
    name: str,
    language: str,
    fields: Sequence[Mapping[str, Any]],
    consents: Sequence[Mapping[str, Any]] = (),
    source: str = "form",
    material_id: int | None = None,
) -> Form:
    """Define a form. ``fields`` name what it asks for (``tillit.policy.capture.FORM_FIELDS``:
    each maps to a data category of the policy); email and name are always asked for and
    required. ``consents`` are the boxes (unticked when shown): a purpose and channel that rest
    on consent, with the exact wording (default: from the policy's labels in the form's
    language). ``source`` is where the data comes from for provenance: "form", or "event" /
    "partner_event" for an event's registration form."""
    _check_forms_tool(actor)
    clean = _clean_definition(
        name=name, language=language, source=source, fields=fields, consents=consents, material_id=material_id
    )
    form = Form.objects.create(created_at=now, updated_at=now, **clean)
    audit.record(actor=actor, now=now, action="create", subject_type="form", subject_id=form.pk, fields=list(clean))
    return form


@transaction.atomic
def update_form(
    *,
    actor: Actor,
    now: dt.datetime,
    form_id: int,
    name: str,
    language: str,
    fields: Sequence[Mapping[str, Any]],
    consents: Sequence[Mapping[str, Any]] = (),
    material_id: int | None = None,
    is_active: bool = True,
) -> Form:
    """Change a form's definition (its public id and source stay). Consents already given keep
    the wording they were given to: the ledger holds it."""
    _check_forms_tool(actor)
    form = Form.objects.select_for_update().filter(pk=form_id).first()
    if form is None:
        raise NotFoundError("no such form")
    clean = _clean_definition(
        name=name, language=language, source=form.source, fields=fields, consents=consents, material_id=material_id
    )
    for key, value in clean.items():
        setattr(form, key, value)
    form.is_active = is_active
    form.updated_at = now
    form.save()
    forget_form(form.public_id)  # this process sees the change at once (others within FORM_CACHE_SECONDS)
    transaction.on_commit(lambda: forget_form(form.public_id))
    audit.record(
        actor=actor, now=now, action="update", subject_type="form", subject_id=form.pk, fields=[*clean, "is_active"]
    )
    return form


# --- submissions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionResult:
    """What a submission did. ``stored`` is False for a honeypot hit (answered like a success,
    nothing kept). ``download_token`` is a signed link to the form's material for this person."""

    stored: bool
    form: Form
    submission_id: int | None = None
    person_id: int | None = None
    created: bool = False
    quarantined: bool = False
    consents: tuple[str, ...] = ()
    download_token: str = ""
    intake_id: int | None = None  # queued: the intake row the drain will apply


def _is_ticked(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in ("on", "true", "1", "yes")


def active_form(public_id: Any) -> Form:
    """The active form with this public id, or NotFoundError."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        raise NotFoundError("no such form", field="form") from None
    form = Form.objects.filter(public_id=key, is_active=True).first()
    if form is None:
        raise NotFoundError("no such form", field="form")
    return form


def _clean_answers(form: Form, data: Mapping[str, Any]) -> dict[str, Any]:
    """The answers to the form's fields, checked and normalised; ValidationError naming the
    first field that is wrong. Nothing is written before this has passed."""
    from tillit.core.identifiers import normalise_email, normalise_phone

    answers: dict[str, Any] = {}
    for field in form.fields:
        name = field["name"]
        raw = data.get(name)
        if name == "product_interests":
            chosen = raw if isinstance(raw, list) else ([raw] if raw else [])
            if any(not isinstance(c, str) or c not in field["options"] for c in chosen):
                raise ValidationError("choose from the products listed", field=name)
            if field["required"] and not chosen:
                raise ValidationError("is required", field=name)
            if chosen:
                answers[name] = list(dict.fromkeys(chosen))
            continue
        text = _text(
            raw,
            name,
            max_length=MAX_FIELD_LENGTHS[name],
            required=field["required"],
            multiline=name in FREE_TEXT_FIELDS,
        )
        if not text:
            continue
        if name == "email":
            text = normalise_email(text)
        elif name == "phone":
            text = normalise_phone(text)
        answers[name] = text
    return answers


# The person behind a public form: the actor of a submission, applied now or by the drain
# (the drain only carries out what the person did, so the audit trail is the same either way).
SUBMITTER = Actor(kind="data_subject", role=None, user_id=None, label="data_subject:form")
# How long a worker process trusts its copy of a form definition (the public path reads no row).
FORM_CACHE_SECONDS = 5.0
_form_cache: dict[str, tuple[float, Form]] = {}
_FORM_CACHE_MAX = 1000


def cached_active_form(public_id: Any) -> Form:
    """``active_form`` through a per-process cache of ``FORM_CACHE_SECONDS``: a form changed or
    switched off in another process is seen within that time (in this process at once,
    ``update_form`` forgets it). An unknown form is not cached."""
    key = str(public_id).strip().lower()
    hit = _form_cache.get(key)
    clock = time.monotonic()
    if hit is not None and clock - hit[0] < FORM_CACHE_SECONDS:
        return hit[1]
    form = active_form(public_id)
    if len(_form_cache) >= _FORM_CACHE_MAX:
        _form_cache.clear()
    _form_cache[key] = (clock, form)
    return form


def forget_form(public_id: Any) -> None:
    _form_cache.pop(str(public_id).strip().lower(), None)


@dataclass(frozen=True)
class ValidSubmission:
    """A submission that passed every check that needs no write: the form (a snapshot), the
    normalised answers, the ticked consent boxes with the exact wording shown, the form's
    language, the shortened IP address and the user agent. ``spam`` is a honeypot hit (answered
    like a success, nothing kept). ``browser_id`` and ``visitor_id`` (the first-party cookies of
    the browser that sent it) are kept only when the person ticked the box that lets their
    visits be linked to them; otherwise they are dropped here."""

    form: Form
    answers: dict[str, Any]
    ticked: tuple[dict[str, str], ...] = ()
    language: str = ""
    ip: str = ""
    user_agent: str = ""
    spam: bool = False
    browser_id: uuid.UUID | None = None
    visitor_id: uuid.UUID | None = None
    gpc: bool = False  # Sec-GPC: 1 came with it: an objection by automated means (art. 21(5))


def validate_submission(
    *,
    public_id: Any,
    data: Mapping[str, Any],
    sender: Sender = Sender(),
    strict: bool = False,
) -> ValidSubmission:
    """Everything about a submission that can be checked without writing: the form exists and
    is active, (``strict``, the JSON endpoint) no input the form does not have, the honeypot,
    required fields, sizes, email and phone syntax, the products offered. ValidationError or
    NotFoundError naming the field; reads at most the form (cached per process)."""
    form = cached_active_form(public_id)
    if strict:
        known = {f["name"] for f in form.fields} | {consent_key(c["purpose"], c["channel"]) for c in form.consents}
        unknown = sorted(set(data) - known - {HONEYPOT_FIELD})
        if unknown:
            raise ValidationError("unknown field", field=unknown[0])
    if data.get(HONEYPOT_FIELD):
        return ValidSubmission(form=form, answers={}, spam=True)
    answers = _clean_answers(form, data)
    ticked = tuple(
        {"purpose": box["purpose"], "channel": box["channel"], "wording": box["wording"]}
        for box in form.consents
        if _is_ticked(data.get(consent_key(box["purpose"], box["channel"])))
    )
    links_visits = any((box["purpose"], box["channel"]) == VISITS_BOX for box in ticked)
    return ValidSubmission(
        form=form,
        answers=answers,
        ticked=ticked,
        language=form.language,
        ip=truncate_ip(sender.ip),
        user_agent=str(sender.user_agent or "")[:300],
        browser_id=sender.browser_id if links_visits else None,
        visitor_id=sender.visitor_id if links_visits else None,
        gpc=sender.gpc,
    )


def submit_form(
    *,
    actor: Actor,
    now: dt.datetime,
    public_id: Any,
    data: Mapping[str, Any],
    sender: Sender = Sender(),
    strict: bool = False,
) -> SubmissionResult:
    """A person submits a form (§4), all in this one transaction or not at all:

    - the person is found by their normalised email or registered (``people.upsert_person``:
      empty fields filled in, a different value never applied silently, provenance from the
      form's source);
    - the contact goes on their timeline as a form interaction (inbound: it moves the
      retention clock, §9), its free text through the sensitive data guard (§16);
    - the answers are stored as given (free text held back by the guard is stored as the
      placeholder), product interests recorded;
    - each ticked consent box is recorded in the consent ledger with the box's exact wording,
      the form's language, the notice in force, the shortened IP address and the user agent;
    - if the box that links visits was ticked, the browser's statistics visitor id (from the
      ``sender``) is linked to the person
      (``visits.link_visitor_to_person``: only while the browser's cookie choice allows it);
    - if the browser sent Global Privacy Control, the now identified person's objection to
      profiling and to disclosure to partners is recorded (GDPR art. 21(5)).

    A filled-in honeypot field is answered like a success and nothing is stored. ``strict``
    (the JSON endpoint) refuses an input the form does not have, naming it.
    (``validate_submission`` then ``apply_submission``; ``receive_submission`` may queue the
    second step instead.)"""
    valid = validate_submission(public_id=public_id, data=data, sender=sender, strict=strict)
    if valid.spam:
        return SubmissionResult(stored=False, form=valid.form)
    # One transaction; the audit entries of every step are appended to the chain together at the
    # end (audit.deferred), so concurrent submissions do not queue on the chain lock meanwhile.
    with transaction.atomic(), audit.deferred():
        return apply_submission(actor=actor, now=now, valid=valid)


def apply_submission(
    *,
    actor: Actor,
    now: dt.datetime,
    valid: ValidSubmission,
    at: dt.datetime | None = None,
    intake_ref: int | None = None,
) -> SubmissionResult:
    """Store a validated submission (the writes of ``submit_form``). Runs inside the caller's
    transaction (and ``audit.deferred()``); the one home of what a submission writes, for the
    request path and the intake drain alike. ``at`` is when the person submitted (default
    ``now``): the submission's time, the contact on the timeline and the consents' time, so a
    withdrawal made after it still counts as the later word."""
    at = at or now
    form = valid.form
    answers = dict(valid.answers)
    with transaction.atomic(savepoint=False):
        values: dict[str, Any] = {k: answers[k] for k in ("name", "email", "phone", "position") if k in answers}
        upsert = people.upsert_person(
            actor=actor,
            now=now,
            source=form.source,
            values={**values, "language": valid.language},
            detail=f"form:{form.public_id}",
            organization_name=answers.get("organisation", ""),
        )
        person = upsert.person
        free_text = "\n\n".join(answers[f] for f in FREE_TEXT_FIELDS if f in answers)
        recorded = people.guard_and_record_interaction(
            actor=actor,
            now=now,
            person_id=person.pk,
            kind="form",
            direction="inbound",
            occurred_at=min(at, now),
            subject=form.name[:300],
            summary=free_text,
        )
        if recorded.quarantined:
            for f in FREE_TEXT_FIELDS:
                if f in answers:
                    answers[f] = people.HELD_SUMMARY
        answers["consents"] = [f"{box['purpose']}/{box['channel']}" for box in valid.ticked]
        submission = FormSubmission.objects.create(
            form=form, person=person, submitted_at=at, answers=answers, intake_ref=intake_ref
        )
        if answers.get("product_interests"):
            people.record_product_interests(
                actor=actor, now=now, person_id=person.pk, products=answers["product_interests"]
            )
        # A queued submission applied after the person withdrew or objected: the later word
        # stands, and the older ticked box is not recorded (issue: the queue never resurrects).
        later = _later_word(person_id=person.pk, at=at) if at < now else set()
        for box in valid.ticked:
            if {(box["purpose"], box["channel"]), (box["purpose"], ALL_CHANNELS)} & later:
                continue
            consent_services.record_consent(
                actor=actor,
                now=min(at, now),
                person_id=person.pk,
                purpose=box["purpose"],
                channel=box["channel"],
                source_kind="form",
                source_ref=f"form:{form.public_id}",
                wording=box["wording"],
                language=valid.language,
                evidence_ip=valid.ip,
                evidence_user_agent=valid.user_agent,
            )
        if valid.gpc:
            consent_services.record_gpc_objection(
                actor=actor,
                now=min(at, now),
                person_id=person.pk,
                language=valid.language,
                source_ref=f"form:{form.public_id}",
            )
        if valid.visitor_id is not None:
            visits.link_visitor_to_person(
                actor=actor,
                now=now,
                browser_id=valid.browser_id,
                visitor_id=valid.visitor_id,
                person_id=person.pk,
                source_ref=f"form:{form.public_id}",
            )
        audit.record(
            actor=actor,
            now=now,
            action="create",
            subject_type="form_submission",
            subject_id=submission.pk,
            fields=sorted(answers),
        )
    token = ""
    if form.material_id is not None:
        token = download_token(material_id=form.material_id, pseudonym=person.pseudonym)
    return SubmissionResult(
        stored=True,
        form=form,
        submission_id=submission.pk,
        person_id=person.pk,
        created=upsert.created,
        quarantined=recorded.quarantined,
        consents=tuple(answers["consents"]),
        download_token=token,
    )


def _later_word(*, person_id: int, at: dt.datetime) -> set[tuple[str, str]]:
    """The (purpose, channel) pairs the person withdrew or objected to after ``at``."""
    return set(
        ConsentEvent.objects.filter(person_id=person_id, occurred_at__gt=at)
        .exclude(action="given")
        .values_list("purpose", "channel")
    )


# --- the intake queue: the public path writes one row, the drain applies it ----------------------


def receive_submission(
    *,
    actor: Actor,
    now: dt.datetime,
    public_id: Any,
    data: Mapping[str, Any],
    sender: Sender = Sender(),
    strict: bool = False,
) -> SubmissionResult:
    """What the public endpoints call. Validates everything (errors exactly as ``submit_form``),
    then, by ``TILLIT_FORM_INTAKE``: ``inline`` applies it in this request (``submit_form``);
    ``queued`` writes one ``FormIntake`` row (one INSERT, committed: durable before the answer)
    for ``process_intake`` to apply, and writes nothing about a person now (so nothing is
    audited here; the drain audits what it writes)."""
    if settings.TILLIT_FORM_INTAKE != "queued":
        return submit_form(actor=actor, now=now, public_id=public_id, data=data, sender=sender, strict=strict)
    valid = validate_submission(public_id=public_id, data=data, sender=sender, strict=strict)
    if valid.spam:
        return SubmissionResult(stored=False, form=valid.form)
    intake = FormIntake.objects.create(
        form_id=valid.form.pk,
        received_at=now,
        answers=valid.answers,
        consents=list(valid.ticked),
        language=valid.language,
        ip=valid.ip,
        user_agent=valid.user_agent,
        browser_id=valid.browser_id,
        visitor_id=valid.visitor_id,
        gpc=valid.gpc,
        **_intake_digests(valid.answers),
    )
    _kick_drain()
    token = ""
    if valid.form.material_id is not None:
        token = make_token(DOWNLOAD_USE, {"m": valid.form.material_id, "i": intake.pk})
    return SubmissionResult(stored=True, form=valid.form, intake_id=intake.pk, download_token=token)


def _intake_digests(answers: Mapping[str, Any]) -> dict[str, str]:
    """The keyed hashes of a queued row's email address and phone number (already normalised
    by validation), the same as the suppression list and erasure receipts hold."""
    found = dict(
        identifier_digests(email=answers.get("email"), phone=answers.get("phone"), key=settings.TILLIT_IDENTIFIER_KEY)
    )
    return {"email_digest": found.get("email", ""), "phone_digest": found.get("phone", "")}


def process_intake(*, actor: Actor, now: dt.datetime, limit: int = 500) -> int:
    """Apply up to ``limit`` pending submissions, oldest first, in one transaction with the
    audit deferred (one chain-lock acquisition per batch), each through ``apply_submission``,
    then delete their intake rows in the same transaction (what stays is the person's record:
    the intake keeps no personal data once applied). Returns how many were applied.

    Rows are taken with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so drains on
    several hosts share the queue and apply each row exactly once (``FormSubmission.
    intake_ref`` is unique besides). A row whose apply fails with a DomainError is rejected:
    the batch is rolled back (its deferred audit entries with it), the row marked ``rejected``
    with the reason (no values) and its personal data blanked, and the batch runs again
    without it. Any other error (the database going away, a deadlock) rolls the batch back
    and propagates: the rows stay pending for the next try.

    The queue never resurrects anyone (DESIGN.md rule 17): after the rows, the batch locks
    every person it is about (by email, in id order, one statement; so it cannot deadlock
    with another writer of two of them) and only then reads the erasures and suppressions of
    the rows' identifiers (lock, then read). A row older than a later erasure or suppression
    of the same email or phone is discarded unapplied (deleted, audited as ``discard``); a
    ticked box older than a later withdrawal or objection is not recorded."""
    if limit < 1:
        raise ValidationError("must be at least 1", field="limit")
    while True:
        failed: FormIntake | None = None
        try:
            with transaction.atomic(), audit.deferred():
                rows = _pending_rows(limit)
                if not rows:
                    return 0
                _lock_people(rows)
                stale = _superseded(rows)
                forms = Form.objects.in_bulk({row.form_id for row in rows})
                for row in rows:
                    if row.pk in stale:
                        audit.record(
                            actor=actor,
                            now=now,
                            action="discard",
                            subject_type="form_intake",
                            subject_id=row.pk,
                            fields=[stale[row.pk]],
                        )
                        continue
                    failed = row
                    apply_submission(
                        actor=actor,
                        now=now,
                        valid=_from_intake(row, forms[row.form_id]),
                        at=row.received_at,
                        intake_ref=row.pk,
                    )
                failed = None
                FormIntake.objects.filter(pk__in=[row.pk for row in rows]).delete()
            if len(rows) > len(stale):
                return len(rows) - len(stale)
            # A batch of discarded rows only: go on with the next (0 means the queue is empty).
        except DomainError as error:
            if failed is None:
                raise
            _reject(actor=actor, now=now, row=failed, error=error)


def _lock_people(rows: Sequence[FormIntake]) -> None:
    """Lock the people a batch is about (found by email), in id order, in one statement."""
    emails = sorted({str(row.answers.get("email")) for row in rows if row.answers.get("email")})
    list(Person.objects.select_for_update().filter(email__in=emails).order_by("pk").values_list("pk", flat=True))


def _superseded(rows: Sequence[FormIntake]) -> dict[int, str]:
    """The rows older than a later erasure or suppression of their email or phone (by keyed
    hash), each with why: ``erased_later`` or ``suppressed_later``."""
    digests = {d for row in rows for d in (row.email_digest, row.phone_digest) if d}
    if not digests:
        return {}
    since = min(row.received_at for row in rows)
    erased = retention_selectors.erasures_after(digests=digests, after=since)
    suppressed = dict(
        SuppressionEntry.objects.filter(digest__in=digests, created_at__gt=since).values_list("digest", "created_at")
    )
    stale: dict[int, str] = {}
    for row in rows:
        for digest in (row.email_digest, row.phone_digest):
            if digest and digest in erased and erased[digest] > row.received_at:
                stale[row.pk] = "erased_later"
            elif digest and digest in suppressed and suppressed[digest] > row.received_at:
                stale.setdefault(row.pk, "suppressed_later")
    return stale


def _pending_rows(limit: int) -> list[FormIntake]:
    rows = FormIntake.objects.filter(status=FormIntake.Status.PENDING).order_by("pk")
    if connection.vendor == "postgresql":
        rows = rows.select_for_update(skip_locked=True)
    # (SQLite: the IMMEDIATE transaction already holds the database's one write lock.)
    return list(rows[:limit])


def _from_intake(row: FormIntake, form: Form) -> ValidSubmission:
    return ValidSubmission(
        form=form,
        answers=dict(row.answers),
        ticked=tuple(row.consents),
        language=row.language,
        ip=row.ip,
        user_agent=row.user_agent,
        browser_id=row.browser_id,
        visitor_id=row.visitor_id,
        gpc=row.gpc,
    )


def _reject(*, actor: Actor, now: dt.datetime, row: FormIntake, error: DomainError) -> None:
    """Mark one intake row rejected with the reason, its answers and evidence blanked: nothing
    about a person stays in a row that belongs to nobody (the erasure check searches every text
    column). The reason has the error's code, field and message, with any answer value cut out."""
    message = error.message
    for value in _strings(row.answers):
        if len(value) >= 3:
            message = re.sub(re.escape(value), "...", message, flags=re.IGNORECASE)
    reason = f"{error.code}{f' ({error.field})' if error.field else ''}: {message}"[:300]
    with transaction.atomic():
        changed = FormIntake.objects.filter(pk=row.pk, status=FormIntake.Status.PENDING).update(
            status=FormIntake.Status.REJECTED,
            processed_at=now,
            error=reason,
            answers={},
            consents=[],
            ip="",
            user_agent="",
            browser_id=None,
            visitor_id=None,
            email_digest="",
            phone_digest="",
        )
        if changed:
            audit.record(
                actor=actor,
                now=now,
                action="reject",
                subject_type="form_intake",
                subject_id=row.pk,
                fields=["answers", "consents", "ip", "user_agent", "visitor_id"],
            )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


# A worker process asks for a drain task at most this often, and only when the one it asked for
# last has finished (``tillit capture drain`` is the usual way; the task is the fallback of a
# deployment that runs only ``tillit db_worker``).
KICK_SECONDS = 10.0
_kick: dict[str, Any] = {"at": -KICK_SECONDS, "task_id": ""}


def _kick_drain() -> None:
    clock = time.monotonic()
    if clock - _kick["at"] < KICK_SECONDS:
        return
    _kick["at"] = clock
    from django_tasks.base import TaskResultStatus
    from django_tasks.exceptions import TaskResultDoesNotExist

    from tillit.capture import tasks

    try:
        if _kick["task_id"]:
            try:
                status = tasks.drain_form_intake.get_result(_kick["task_id"]).status
            except TaskResultDoesNotExist:
                status = None
            if status in (TaskResultStatus.READY, TaskResultStatus.RUNNING):
                return
        _kick["task_id"] = str(tasks.drain_form_intake.enqueue().id)
    except DatabaseError:  # the submission is stored; a drain will find it
        logger.warning("capture: could not enqueue the intake drain task", exc_info=True)


# --- material and downloads (§9: material you downloaded) ---------------------------------------

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


def _clean_url(url: str) -> str:
    text = _text(url, "url", max_length=500, required=True)
    if not (text.startswith(("https://", "http://")) or (text.startswith("/") and not text.startswith("//"))):
        raise ValidationError("a web address (https://...) or a path on this site (/...)", field="url")
    if any(ch.isspace() for ch in text):
        raise ValidationError("must not contain spaces", field="url")
    return text


@transaction.atomic
def create_material(*, actor: Actor, now: dt.datetime, slug: str, title: str, url: str) -> Material:
    """Something to download behind the tracked link ``/d/<slug>/``."""
    _check_forms_tool(actor)
    slug = (slug or "").strip().lower()
    if not _SLUG.match(slug):
        raise ValidationError("lower-case letters, digits and dashes (at most 80)", field="slug")
    title = _text(title, "title", max_length=200, required=True)
    material = Material(slug=slug, title=title, url=_clean_url(url), created_at=now)
    try:
        with transaction.atomic():
            material.save()
    except IntegrityError:
        raise ConflictError("material with this slug already exists", field="slug") from None
    audit.record(actor=actor, now=now, action="create", subject_type="material", subject_id=material.pk)
    return material


def download_token(*, material_id: int, pseudonym: uuid.UUID) -> str:
    """A signed token for one person's tracked link to one material (an email, a thank-you
    page). It carries the person's pseudonym, never their address (DESIGN.md rule 10)."""
    return make_token(DOWNLOAD_USE, {"m": material_id, "p": str(pseudonym)})


def _download_person(payload: Mapping[str, Any]) -> int | None:
    """The person a download link is for: by their pseudonym, or (a link made when the
    submission was queued) by the intake row their submission came from, once it is applied."""
    if "i" in payload:
        return FormSubmission.objects.filter(intake_ref=int(payload["i"])).values_list("person_id", flat=True).first()
    return Person.objects.filter(pseudonym=uuid.UUID(str(payload.get("p")))).values_list("pk", flat=True).first()


@dataclass(frozen=True)
class Download:
    url: str
    identified: bool


@transaction.atomic
def record_download(*, actor: Actor, now: dt.datetime, slug: str, token: str = "") -> Download:
    """A download of the material: always counted; through a person's signed link (for this
    material, not expired) it is also a download interaction on their timeline (inbound: it
    moves the retention clock, §9). A bad or expired token still downloads, anonymously."""
    material = Material.objects.filter(slug=slug).values("pk", "url").first()
    if material is None:
        raise NotFoundError("no such material")
    Material.objects.filter(pk=material["pk"]).update(downloads=F("downloads") + 1)
    if not token:
        return Download(material["url"], False)
    try:
        payload = read_token(DOWNLOAD_USE, token, max_age_seconds=DOWNLOAD_DAYS * 86400)
        person_id = _download_person(payload) if payload.get("m") == material["pk"] else None
    except (TokenError, ValueError, TypeError):
        person_id = None
    if person_id is None:
        return Download(material["url"], False)
    people.guard_and_record_interaction(
        actor=actor, now=now, person_id=person_id, kind="download", direction="inbound", subject=slug[:300]
    )
    return Download(material["url"], True)


# --- orders and services (§4, §9: the customer relationship; bookkeeping hold) -------------------

ORDER_RECORD = "order_lines"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_LINES = 500


def _check_orders(actor: Actor) -> None:
    if actor.kind != "system" and not rules.may_record_orders(policy.current(), actor.role):
        raise PermissionDeniedError("your role may not record orders or services")


def _decimal(value: Any, field: str, *, places: int, positive: bool) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError("must be a number", field=field) from None
    if not number.is_finite() or abs(number) >= Decimal(10) ** 11:
        raise ValidationError("is out of range", field=field)
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise ValidationError(f"has at most {places} decimals", field=field)
    if positive and number <= 0:
        raise ValidationError("must be more than 0", field=field)
    if number < 0:
        raise ValidationError("must not be negative", field=field)
    return number


def _person_row(person_id: int) -> Person:
    person = Person.objects.filter(pk=person_id).only("pk", "pseudonym").first()
    if person is None:
        raise NotFoundError("no such person", field="person_id")
    return person


@dataclass(frozen=True)
class OrderResult:
    order_number: str
    lines: int
    hold_until: dt.datetime
    started_customer_relationship: bool


@transaction.atomic
def record_order(
    *,
    actor: Actor,
    now: dt.datetime,
    person_id: int,
    number: str,
    currency: str,
    lines: Sequence[Mapping[str, Any]],
    ordered_at: dt.datetime | None = None,
    opt_out: Mapping[str, Any] | None = None,
) -> OrderResult:
    """Record an order with its lines (product, quantity, unit price, in ``currency``). The
    lines are bookkeeping records kept under the policy's legal hold until the end of the
    financial year plus its years (``legal_hold_until``), even after the person is erased.
    The first order starts the customer relationship (§9); the order is an inbound contact on
    the timeline and the products become "already has" interests.

    Each line naming a product of the policy (by key or name) is recorded as a purchase
    (``people.Purchase``) with ``opt_out``: the free and simple way to refuse marketing the
    customer was offered when their details were collected (``wording``: exactly as shown,
    ``language``, and ``refused`` if they used it then). Without it no opt-out was offered, and
    the existing-customer exception (mfl. §15(3)) does not hold for this order."""
    _check_orders(actor)
    offer = _opt_out(opt_out)
    number = _text(number, "number", max_length=40, required=True)
    currency = _text(currency, "currency", max_length=3, required=True).upper()
    if not _CURRENCY.match(currency):
        raise ValidationError("a three-letter currency code (ISO 4217), like NOK", field="currency")
    ordered_at = ordered_at or now
    if ordered_at > now + dt.timedelta(minutes=5):
        raise ValidationError("cannot be in the future", field="ordered_at")
    if not isinstance(lines, list | tuple) or not lines:
        raise ValidationError("an order has at least one line", field="lines")
    if len(lines) > MAX_LINES:
        raise ValidationError(f"an order has at most {MAX_LINES} lines", field="lines")
    person = _person_row(person_id)
    current = policy.current()
    hold = rules.hold_for_record(current, ORDER_RECORD)
    hold_until = retention_rules.legal_hold_until(current, hold, ordered_at) if hold else ordered_at
    rows = []
    for i, line in enumerate(lines, start=1):
        rows.append(
            OrderLine(
                person_id=person.pk,
                customer_pseudonym=person.pseudonym,
                order_number=number,
                line_number=i,
                ordered_at=ordered_at,
                product=_text(line.get("product"), f"lines.{i - 1}.product", max_length=100, required=True),
                quantity=_decimal(line.get("quantity"), f"lines.{i - 1}.quantity", places=3, positive=True),
                unit_price=_decimal(line.get("unit_price"), f"lines.{i - 1}.unit_price", places=2, positive=False),
                currency=currency,
                hold_until=hold_until,
                created_at=now,
            )
        )
    try:
        with transaction.atomic():
            OrderLine.objects.bulk_create(rows)
    except IntegrityError:
        raise ConflictError("an order with this number is already recorded", field="number") from None
    started = _start_customer(actor=actor, now=now, person_id=person.pk, at=ordered_at)
    people.guard_and_record_interaction(
        actor=actor,
        now=now,
        person_id=person.pk,
        kind="order",
        direction="inbound",
        occurred_at=ordered_at,
        subject=_("Order %(number)s") % {"number": number},
    )
    people.record_product_interests(
        actor=actor,
        now=now,
        person_id=person.pk,
        products=[r.product for r in rows],
        status=ProductInterest.Status.HAS,
    )
    purchases = _record_purchases(person.pk, number, ordered_at, [r.product for r in rows], offer)
    audit.record(
        actor=actor,
        now=now,
        action="create",
        subject_type="order",
        subject_id=rows[0].pk,
        purpose="customer_care",
        fields=[
            "order_number",
            "ordered_at",
            "product",
            "quantity",
            "unit_price",
            "currency",
            *(["opt_out_wording", "opt_out_language", "opt_out_refused"] if offer and purchases else []),
        ],
    )
    return OrderResult(number, len(rows), hold_until, started)


@dataclass(frozen=True)
class _OptOut:
    wording: str
    language: str
    refused: bool


def _opt_out(value: Mapping[str, Any] | None) -> _OptOut | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError("expected an object with wording, language and refused", field="opt_out")
    wording = _text(value.get("wording"), "opt_out.wording", max_length=5000, required=True)
    language = str(value.get("language") or policy.current().default_language)
    if language not in policy.current().languages:
        raise ValidationError(f"must be one of: {', '.join(policy.current().languages)}", field="opt_out.language")
    refused = value.get("refused", False)
    if not isinstance(refused, bool):
        raise ValidationError("must be true or false", field="opt_out.refused")
    return _OptOut(wording, language, refused)


def _record_purchases(
    person_id: int, number: str, ordered_at: dt.datetime, products: list[str], offer: _OptOut | None
) -> int:
    """The order's products of the policy, as purchases with the opt-out offered (if any)."""
    from tillit.people.models import Purchase

    known = {p.key.casefold(): p.key for p in policy.current().products.values()}
    known |= {p.name.casefold(): p.key for p in policy.current().products.values()}
    keys = dict.fromkeys(known[name.casefold()] for name in products if name.casefold() in known)
    Purchase.objects.bulk_create(
        [
            Purchase(
                person_id=person_id,
                order_number=number,
                product=key,
                purchased_at=ordered_at,
                opt_out_wording=offer.wording if offer else "",
                opt_out_language=offer.language if offer else "",
                opt_out_refused=offer.refused if offer else False,
            )
            for key in keys
        ]
    )
    return len(keys)


def _start_customer(*, actor: Actor, now: dt.datetime, person_id: int, at: dt.datetime) -> bool:
    from tillit.people.models import CustomerRelationship

    if CustomerRelationship.objects.filter(person_id=person_id, ended_at__isnull=True).exists():
        return False
    people.start_customer_relationship(actor=actor, now=now, person_id=person_id, started_at=min(at, now))
    return True


@transaction.atomic
def start_service(
    *, actor: Actor, now: dt.datetime, person_id: int, product: str, started_at: dt.datetime | None = None
) -> tuple[ServiceSubscription, bool]:
    """The person (a customer) starts using a service; the first one starts the customer
    relationship (§9). Returns the service and whether the relationship started now."""
    _check_orders(actor)
    product = _text(product, "product", max_length=100, required=True)
    started_at = started_at or now
    if started_at > now + dt.timedelta(minutes=5):
        raise ValidationError("cannot be in the future", field="started_at")
    person = _person_row(person_id)
    service = ServiceSubscription.objects.create(person_id=person.pk, product=product, started_at=started_at)
    started = _start_customer(actor=actor, now=now, person_id=person.pk, at=started_at)
    if not started:
        # An order-only customer's deadline (§9) goes: an active service keeps the relationship open.
        retention.lock_and_recompute_retention(person_id=person.pk, now=now)
    audit.record(
        actor=actor,
        now=now,
        action="create",
        subject_type="service",
        subject_id=service.pk,
        purpose="customer_care",
        fields=["product", "started_at"],
    )
    return service, started


@transaction.atomic
def cancel_service(
    *, actor: Actor, now: dt.datetime, service_id: int, cancelled_at: dt.datetime | None = None
) -> tuple[ServiceSubscription, bool]:
    """The customer cancels a service. Cancelling the last active one ends the customer
    relationship (from then the dialogue rule's two years run, §9). Returns the service and
    whether the relationship ended."""
    _check_orders(actor)
    service = ServiceSubscription.objects.select_for_update().filter(pk=service_id).first()
    if service is None:
        raise NotFoundError("no such service")
    if service.cancelled_at is not None:
        raise ConflictError("the service is already cancelled")
    cancelled_at = cancelled_at or now
    if cancelled_at < service.started_at:
        raise ValidationError("cannot be before the service started", field="cancelled_at")
    if cancelled_at > now + dt.timedelta(minutes=5):
        raise ValidationError("cannot be in the future", field="cancelled_at")
    service.cancelled_at = cancelled_at
    service.save(update_fields=["cancelled_at"])
    from tillit.people.models import CustomerRelationship

    ended = False
    others = ServiceSubscription.objects.filter(person_id=service.person_id, cancelled_at__isnull=True).exists()
    if not others and CustomerRelationship.objects.filter(person_id=service.person_id, ended_at__isnull=True).exists():
        people.end_customer_relationship(
            actor=actor,
            now=now,
            person_id=service.person_id,
            ended_at=max(cancelled_at, service.started_at),
            reason=CustomerRelationship.EndReason.SERVICE_CANCELLED,
        )
        ended = True
    audit.record(
        actor=actor,
        now=now,
        action="update",
        subject_type="service",
        subject_id=service.pk,
        purpose="customer_care",
        fields=["cancelled_at"],
    )
    return service, ended
