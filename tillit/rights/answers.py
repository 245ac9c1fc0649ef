"""The answers to the right of access (GDPR art. 15) and to data portability (art. 20).

Both are generated from the field registry (``tillit.policy.classification``), never from a
hand-written list of fields: every model with personal fields that is tied to the person
(the person's own row, the rows linked to them by a ``SUBJECT`` foreign key, and the rows the
person's personal foreign keys point at, such as their organisation) is read with one query
per table, and every personal field is shown with its category, its source and when it was
recorded. A field that is classified tomorrow appears in the answer tomorrow.

The access answer (``access_answer``) carries the art. 15(1) information under keys that mirror
the headings of the regulatory checklist, item 34: (a) ``purposes``, (b) ``categories``,
(c) ``recipients``, (d) ``retention``, (e) ``rights``, (f) ``complaint``, (g) ``sources``,
(h) ``automated_decisions``; plus the art. 15(2) ``transfers``, the copy itself
(``personal_data``, with the ``timeline``, ``consents`` and ``subscriptions`` in words) and
``staff_access`` (who inside looked at the data, when and why, from the audit log). It validates
against the published JSON Schema ``access.schema.json`` (``access_schema``).

Everything here is a pure read: no writes, no audit entry (the service that hands the answer
to the person records that), no clock ("now" is passed in). Exceptions and logs never carry
personal data.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import gettext as gettext_module
import io
import json
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from tillit import policy
from tillit.audit.models import AuditEntry
from tillit.consent.models import NoticeVersion
from tillit.core.vocabulary import PROVENANCE_ALL_FIELDS
from tillit.core.words import BASIS_WORDS, PARTNER_ROLE_WORDS, RIGHT_WORDS, transfer_words
from tillit.people.models import Person, Provenance
from tillit.policy import classification
from tillit.policy import retention as retention_rules
from tillit.policy.schema import Policy
from tillit.retention.selectors import explain

FORMAT_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("access.schema.json")
PERSON_KEY = "people.Person"
# The gettext domain of the free text the policy file gives in English only (processor roles,
# the bookkeeping act ...); ``makemessages`` leaves it alone (see tillit.public.notice).
POLICY_DOMAIN = "policy"
# Characters that make a spreadsheet read a cell as a formula (CSV/formula injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Pseudo-sources for rows the policy's source list does not name: what the person did
# themselves (a consent, a subscription) and what we recorded (our own emails, notes).
SOURCE_YOU = "you"
SOURCE_US = "us"
PSEUDO_SOURCES: Mapping[str, Promise] = {
    SOURCE_YOU: _("You, yourself (for example when you gave a consent or subscribed)"),
    SOURCE_US: _("Recorded by us (our staff or our systems) in our contact with you"),
}

# The source of an interaction the person sent us, by its kind (policy sources, §4).
INBOUND_SOURCES: Mapping[str, str] = {
    "form": "form",
    "download": "download",
    "email": "correspondence",
    "call": "correspondence",
    "chat": "chat",
    "order": "order",
    "event": "event",
    "visit": "website",
    "note": "correspondence",
}

# The words for the technical codes in the data (IMY v Spotify: explain them).
KIND_WORDS: Mapping[str, Promise] = {
    "form": _("A form you filled in"),
    "download": _("Material you downloaded"),
    "email": _("An email"),
    "call": _("A phone call"),
    "chat": _("A chat"),
    "order": _("An order"),
    "event": _("An event"),
    "visit": _("A visit to our website"),
    "note": _("A note by our staff"),
}
DIRECTION_WORDS: Mapping[str, Promise] = {
    "inbound": _("from you to us"),
    "outbound": _("from us to you"),
    "internal": _("an internal note by our staff"),
}
ACTION_WORDS: Mapping[str, Promise] = {
    "given": _("consent given"),
    "withdrawn": _("consent withdrawn"),
    "objected": _("objection"),
}
INTEREST_WORDS: Mapping[str, Promise] = {
    "interested": _("you are interested in it"),
    "has": _("you already have it"),
}
AUDIT_ACTION_WORDS: Mapping[str, Promise] = {
    "read": _("looked at your data"),
    "search": _("found you in a search"),
    "create": _("registered data about you"),
    "update": _("changed data about you"),
    "erase": _("erased data about you"),
    "export": _("exported your data"),
    "given": _("recorded a consent"),
    "withdrawn": _("recorded a withdrawal of consent"),
    "objected": _("recorded an objection"),
    "notice_sent": _("sent you the privacy notice"),
    "quarantine": _("held back text that looked sensitive"),
    "release": _("released held-back text"),
    "discard": _("discarded held-back text"),
}
ACTOR_WORDS: Mapping[str, Promise] = {
    "staff": _("A member of our staff"),
    "api_client": _("A program acting for a member of our staff"),
    "system": _("An automatic process"),
    "data_subject": _("You"),
}
RECORD_WORDS: Mapping[str, Promise] = {
    "order_lines": _("Order lines (what was ordered, when and at what price)"),
}
COUNTRY_WORDS: Mapping[str, Promise] = {
    "NO": _("Norway"),
    "SE": _("Sweden"),
    "DK": _("Denmark"),
    "FI": _("Finland"),
    "IS": _("Iceland"),
}
# Human names for fields; a field not named here is shown by its model's verbose name.
FIELD_WORDS: Mapping[str, Promise] = {
    "people.Person.name": _("Name"),
    "people.Person.email": _("Email address"),
    "people.Person.phone": _("Phone number"),
    "people.Person.position": _("Position"),
    "people.Person.organization": _("The business you work for"),
    "people.Person.language": _("Your language"),
    "people.Person.last_contact_at": _("Last contact you took part in"),
    "people.Person.notice_version": _("The privacy notice you were given"),
    "people.Organization.org_number": _("Organisation number"),
    "people.Organization.name": _("Name of the business"),
    "people.Organization.industry_code": _("Industry code"),
    "people.Organization.street": _("Street address"),
    "people.Organization.postcode": _("Postcode"),
    "people.Organization.city": _("City"),
    "people.Organization.country": _("Country"),
    "people.Interaction.kind": _("Kind of contact"),
    "people.Interaction.direction": _("Direction"),
    "people.Interaction.reached": _("You answered"),
    "people.Interaction.occurred_at": _("When"),
    "people.Interaction.subject": _("Subject"),
    "people.Interaction.summary": _("Content or summary"),
    "people.ProductInterest.product": _("Product or service"),
    "people.ProductInterest.status": _("Status"),
    "people.ProductInterest.recorded_at": _("Recorded"),
    "people.CustomerRelationship.started_at": _("Customer since"),
    "people.CustomerRelationship.ended_at": _("Customer until"),
    "people.Restriction.grounds": _("Grounds of the restriction"),
    "people.Restriction.restricted_at": _("Restricted since"),
    "people.Restriction.lifted_at": _("Restriction lifted"),
    "consent.Subscription.newsletter": _("Newsletter"),
    "consent.Subscription.subscribed_at": _("Subscribed"),
    "consent.Subscription.unsubscribed_at": _("Unsubscribed"),
    "consent.ConsentEvent.purpose": _("Purpose"),
    "consent.ConsentEvent.channel": _("Channel"),
    "consent.ConsentEvent.action": _("What you did"),
    "consent.ConsentEvent.basis": _("Legal basis concerned"),
    "consent.ConsentEvent.occurred_at": _("When"),
    "consent.ConsentEvent.source_kind": _("Where"),
    "consent.ConsentEvent.source_ref": _("Where, in detail"),
    "consent.ConsentEvent.wording": _("The exact wording you were shown"),
    "consent.ConsentEvent.language": _("Language"),
    "consent.ConsentEvent.notice_version": _("The privacy notice in force"),
    "consent.ConsentEvent.evidence_ip": _("IP address (shortened)"),
    "consent.ConsentEvent.evidence_user_agent": _("Browser"),
    "consent.NoticeDelivery.notice_version": _("Privacy notice sent to you"),
    "consent.NoticeDelivery.sent_at": _("Sent"),
    "consent.NoticeDelivery.channel": _("Channel"),
    "people.QuarantinedText.subject": _("Subject"),
    "people.QuarantinedText.text": _("Text held back for review"),
    "people.Provenance.field": _("Data item"),
    "people.Provenance.source": _("Source"),
    "people.Provenance.detail": _("Details"),
    "people.Provenance.recorded_at": _("Recorded"),
    "people.Dialogue.kind": _("Kind of dialogue"),
    "people.Dialogue.opened_at": _("Opened"),
    "people.Dialogue.closed_at": _("Ended"),
    "people.Purchase.order_number": _("Order number"),
    "people.Purchase.product": _("Product or service"),
    "people.Purchase.purchased_at": _("Bought"),
    "people.Purchase.opt_out_wording": _("The way to refuse marketing you were offered"),
    "people.Purchase.opt_out_language": _("Language"),
    "people.Purchase.opt_out_refused": _("You refused marketing"),
    "consent.IndirectNotice.source": _("Source"),
    "consent.IndirectNotice.obtained_at": _("Obtained"),
    "consent.IndirectNotice.status": _("Status"),
    "consent.IndirectNotice.exemption": _("Exemption claimed"),
    "consent.IndirectNotice.recorded_at": _("Recorded"),
    "consent.IndirectNotice.claimed_at": _("Prepared for sending"),
    "consent.IndirectNotice.sent_at": _("Sent"),
    "consent.IndirectNotice.language": _("Language"),
    "marketing.SubscriptionRequest.newsletter": _("Newsletter"),
    "marketing.SubscriptionRequest.email": _("Email address"),
    "marketing.SubscriptionRequest.name": _("Name"),
    "marketing.SubscriptionRequest.language": _("Language"),
    "marketing.SubscriptionRequest.source_kind": _("Where"),
    "marketing.SubscriptionRequest.wording": _("The exact wording you were shown"),
    "marketing.SubscriptionRequest.requested_at": _("Requested"),
    "marketing.SubscriptionRequest.confirmed_at": _("Confirmed"),
    "marketing.SubscriptionRequest.evidence_ip": _("IP address (shortened)"),
    "marketing.SubscriptionRequest.evidence_user_agent": _("Browser"),
    "marketing.SendRecord.campaign": _("Campaign"),
    "marketing.SendRecord.status": _("Status"),
    "marketing.SendRecord.reason": _("Reason"),
    "marketing.SendRecord.basis": _("Legal basis concerned"),
    "marketing.SendRecord.message_id": _("Message identifier"),
    "marketing.SendRecord.sent_at": _("Sent"),
    "sharing.DialogueMember.added_at": _("Added"),
    "sharing.DialogueMember.removed_at": _("Removed"),
    "sharing.EventAttendance.attended_at": _("Attended"),
    "capture.Visit.visited_at": _("When"),
    "capture.Visit.day": _("Day"),
    "capture.Visit.visitor_id": _("Browser identifier"),
    "capture.Visit.url": _("Web address"),
    "capture.Visit.path": _("Page"),
    "capture.Visit.referrer": _("Came from"),
    "capture.Visit.ip": _("IP address (shortened)"),
    "capture.Visit.browser": _("Browser"),
    "capture.Visit.operating_system": _("Operating system"),
    "capture.Visit.language": _("Language"),
    "capture.VisitorLink.visitor_id": _("Browser identifier"),
    "capture.VisitorLink.linked_at": _("Linked"),
    "capture.FormSubmission.submitted_at": _("Sent"),
    "capture.FormSubmission.answers": _("Your answers"),
    "capture.OrderLine.order_number": _("Order number"),
    "capture.OrderLine.ordered_at": _("Ordered"),
    "capture.OrderLine.product": _("Product or service"),
    "capture.OrderLine.quantity": _("Quantity"),
    "capture.OrderLine.unit_price": _("Unit price"),
    "capture.OrderLine.currency": _("Currency"),
    "capture.ServiceSubscription.product": _("Product or service"),
    "capture.ServiceSubscription.started_at": _("Started"),
    "capture.ServiceSubscription.cancelled_at": _("Cancelled"),
}
# The site's languages by name, in the reader's language (Django's own names spell "Bokmal").
LANGUAGE_WORDS: Mapping[str, Promise] = {
    "en": _("English"),
    "sv": _("Swedish"),
    "nb": _("Norwegian (Bokmål)"),
}
TABLE_WORDS: Mapping[str, Promise] = {
    "people.Person": _("About you"),
    "people.Organization": _("The business you work for"),
    "people.Interaction": _("Calls, emails, forms and other contact with us"),
    "people.ProductInterest": _("Products and services"),
    "people.CustomerRelationship": _("Customer relationship"),
    "people.QuarantinedText": _("Text held back because it looked sensitive"),
    "consent.Subscription": _("Newsletter subscriptions"),
    "consent.ConsentEvent": _("Consents, withdrawals and objections"),
    "consent.NoticeDelivery": _("Privacy notices sent to you"),
    "people.Provenance": _("Where each piece of data came from"),
    "people.Restriction": _("Restriction of processing"),
    "people.Dialogue": _("Dialogues with you"),
    "people.Purchase": _("Your purchases"),
    "consent.IndirectNotice": _("Notices we sent about data we did not get from you"),
    "marketing.SubscriptionRequest": _("Your requests to subscribe"),
    "marketing.SendRecord": _("Marketing emails we sent you"),
    "sharing.DialogueMember": _("Dialogues with our partners you took part in"),
    "sharing.EventAttendance": _("Events you attended"),
    "capture.Visit": _("Visits to our website"),
    "capture.VisitorLink": _("Your browser linked to you"),
    "capture.FormSubmission": _("Forms you sent us"),
    "capture.OrderLine": _("Order lines (what was ordered, when and at what price)"),
    "capture.ServiceSubscription": _("Services you subscribe to"),
}
# Companion columns read with a field so its code can be explained (not shown on their own).
COMPANIONS: Mapping[str, tuple[str, ...]] = {
    "people.Organization.industry_code": ("industry_code_version",),
}
# Art. 20: the tables holding data the person provided, and which of their rows (None: all).
# The person's own fields are included where their latest provenance is a direct source.
PROVIDED_ROWS: Mapping[str, Q | None] = {
    "people.Interaction": Q(direction="inbound"),
    "people.ProductInterest": None,
    "consent.ConsentEvent": None,
    "consent.Subscription": None,
}


# --- the plan: which tables, which fields (from the registry) ------------------------------------


@dataclass(frozen=True)
class TablePlan:
    """How to read one table for one person."""

    key: str  # "app.Model"
    model: type[models.Model]
    link: str | None  # the SUBJECT foreign key to the person, if the table is linked that way
    via: str | None  # the person's foreign key that points at this table (their organisation)
    fields: tuple[tuple[str, str], ...]  # (field name, category or "" for a shown non-personal field)
    timestamp: str | None  # the row's own "recorded" moment when no provenance says otherwise


_plan_cache: dict[str, Any] = {}


def table_plans() -> tuple[TablePlan, ...]:
    """Every table the answer reads, derived from the registry (cached per registry object)."""
    registry = classification.FIELDS
    if _plan_cache.get("registry") is registry:
        return _plan_cache["plans"]  # type: ignore[no-any-return]
    plans = _build_plans()
    _plan_cache.update(registry=registry, plans=plans)
    return plans


def _model(key: str) -> type[models.Model] | None:
    try:
        return apps.get_model(key)
    except (LookupError, ValueError):
        return None  # classified ahead of its model (another branch); nothing to read yet


def _concrete(model: type[models.Model], name: str) -> models.Field[Any, Any] | None:
    try:
        field = model._meta.get_field(name)
    except Exception:
        return None
    return field if getattr(field, "concrete", False) and not field.many_to_many else None  # type: ignore[return-value]


def _timestamp_field(model: type[models.Model]) -> str | None:
    for field in model._meta.concrete_fields:
        if isinstance(field, models.DateTimeField) and not field.null:
            return field.name
    return None


def _build_plans() -> tuple[TablePlan, ...]:
    model_keys = list(dict.fromkeys(key.rsplit(".", 1)[0] for key in classification.FIELDS))
    links: dict[str, str] = {}
    for model_key, link in classification.subject_links():
        links.setdefault(model_key, link)
    for model_key, link, _record in classification.held_links():  # e.g. order lines, while linked
        links.setdefault(model_key, link)
    person_fields = classification.personal_fields(PERSON_KEY)
    vias: dict[str, str] = {}
    for name in person_fields:
        relation = _concrete(Person, name)
        if relation is not None and relation.is_relation and relation.related_model is not None:
            target = relation.related_model._meta.label
            if classification.personal_fields(target):
                vias.setdefault(target, name)
    plans = []
    # The person first, then what their own fields point at (their business), then the rest.
    model_keys.sort(key=lambda k: 0 if k == PERSON_KEY else 1 if k in vias else 2)
    for key in model_keys:
        personal = classification.personal_fields(key)
        if key != PERSON_KEY and key not in links and key not in vias:
            continue
        model = _model(key)
        if model is None:
            continue
        fields = [(name, category) for name, category in personal.items() if _concrete(model, name) is not None]
        if not fields and key in links:
            # A linked table without personal fields (e.g. provenance): what it says about the person.
            prefix = key + "."
            fields = [
                (k[len(prefix) :], "")
                for k, marker in classification.FIELDS.items()
                if k.startswith(prefix)
                and marker == classification.NOT_PERSONAL
                and k[len(prefix) :] != model._meta.pk.name
                and (f := _concrete(model, k[len(prefix) :])) is not None
                and not f.is_relation
            ]
        if not fields:
            continue
        plans.append(
            TablePlan(
                key=key,
                model=model,
                link=links.get(key),
                via=vias.get(key),
                fields=tuple(fields),
                timestamp=_timestamp_field(model),
            )
        )
    return tuple(plans)


def _columns(plan: TablePlan, extra: Iterable[str] = ()) -> list[str]:
    columns = ["pk"]
    for name, _category in plan.fields:
        field = _concrete(plan.model, name)
        assert field is not None
        columns.append(field.attname)
        columns.extend(COMPANIONS.get(f"{plan.key}.{name}", ()))
    if plan.timestamp:
        columns.append(plan.timestamp)
    columns.extend(extra)
    return list(dict.fromkeys(columns))


# --- reading ---------------------------------------------------------------------------------


@dataclass
class _Read:
    person: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]]  # table key -> rows
    provenance: dict[tuple[str, int], dict[str, list[dict[str, Any]]]]  # (table, pk) -> field -> records


_PERSON_EXTRA = ("pseudonym", "language", "name", "retain_until", "retain_reason", "created_at")


def _read(person_id: int, *, where: Mapping[str, Q | None] | None = None) -> _Read:
    """The person's rows of every planned table: one query per table (plus provenance)."""
    plans = {plan.key: plan for plan in table_plans()}
    person_plan = plans.get(PERSON_KEY)
    columns = _columns(person_plan, _PERSON_EXTRA) if person_plan else ["pk", *_PERSON_EXTRA]
    person = Person.objects.filter(pk=person_id).values(*columns).first()
    if person is None:
        raise LookupError("no such person")
    rows: dict[str, list[dict[str, Any]]] = {PERSON_KEY: [person]} if person_plan else {}
    org_ids: list[int] = []
    for key, plan in plans.items():
        if key == PERSON_KEY:
            continue
        if where is not None and key not in where and plan.via is None:
            continue
        if plan.via is not None:
            target_id = person.get(_attname(Person, plan.via))
            if target_id is None:
                rows[key] = []
                continue
            rows[key] = list(plan.model._default_manager.filter(pk=target_id).values(*_columns(plan)))
            if plan.model._meta.label == "people.Organization":
                org_ids.append(target_id)
            continue
        assert plan.link is not None
        query = plan.model._default_manager.filter(**{_attname(plan.model, plan.link): person_id})
        condition = where.get(key) if where is not None else None
        if condition is not None:
            query = query.filter(condition)
        order = [plan.timestamp, "pk"] if plan.timestamp else ["pk"]
        rows[key] = list(query.order_by(*order).values(*_columns(plan)))
    provenance_filter = Q(person_id=person_id)
    if org_ids:
        provenance_filter |= Q(organization_id__in=org_ids)
    provenance: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in (
        Provenance.objects.filter(provenance_filter)
        .order_by("recorded_at", "pk")
        .values("person_id", "organization_id", "field", "source", "detail", "recorded_at")
    ):
        owner = (PERSON_KEY, person_id) if record["person_id"] else ("people.Organization", record["organization_id"])
        provenance[owner][record["field"]].append(dict(record))
    return _Read(person=person, rows=rows, provenance=provenance)


def _attname(model: type[models.Model], name: str) -> str:
    field = _concrete(model, name)
    return field.attname if field is not None else name


# --- words -----------------------------------------------------------------------------------


def policy_text(text: str, language: str) -> str:
    """Free text of the policy file in ``language`` (the ``policy`` gettext catalogue)."""
    if language == policy.current().default_language or not text:
        return text
    return _policy_catalogue(str(settings.LOCALE_PATHS[0]), language).gettext(text)


@lru_cache(maxsize=8)
def _policy_catalogue(localedir: str, language: str) -> gettext_module.NullTranslations:
    return gettext_module.translation(POLICY_DOMAIN, localedir=localedir, languages=[language], fallback=True)


def _label(labels: Mapping[str, str], language: str, current: Policy) -> str:
    return labels.get(language) or labels[current.default_language]


def _word(table: Mapping[str, Promise], key: Any) -> str:
    word = table.get(str(key))
    return str(word) if word is not None else str(key)


def _country(code: str) -> str:
    word = COUNTRY_WORDS.get((code or "").upper())
    return str(word) if word is not None else code


def _language_name(code: str) -> str:
    word = LANGUAGE_WORDS.get(code)
    if word is not None:
        return str(word)
    try:
        return str(translation.get_language_info(code)["name_translated"])
    except KeyError:
        return code


def _field_label(table: str, name: str, model: type[models.Model]) -> str:
    word = FIELD_WORDS.get(f"{table}.{name}")
    if word is not None:
        return str(word)
    field = _concrete(model, name)
    return str(getattr(field, "verbose_name", name)).capitalize()


def _table_title(key: str, model: type[models.Model]) -> str:
    word = TABLE_WORDS.get(key)
    return str(word) if word is not None else str(model._meta.verbose_name_plural).capitalize()


def _json_value(value: Any) -> Any:
    """A value as JSON: text for moments, ids and decimals; lists and objects as they are."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return value


@dataclass
class _Context:
    """What the explanations need, read once."""

    current: Policy
    language: str
    notices: dict[int, dict[str, Any]]
    organisation_names: dict[int, str]


def _local_date(moment: dt.datetime | dt.date) -> str:
    """A day as the reader's language writes it ("3 december 2026", "3. desember 2026")."""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(retention_rules.CONTROLLER_TIME_ZONE).date()
    return str(formats.date_format(moment, "DATE_FORMAT"))


def _notice_words(notice: dict[str, Any] | None) -> str:
    if notice is None:
        return ""
    return gettext("The privacy notice published on %(date)s (content hash %(hash)s)") % {
        "date": _local_date(notice["published_at"]),
        "hash": notice["digest"][:8],
    }


def _explain_value(ctx: _Context, table: str, name: str, value: Any, row: Mapping[str, Any]) -> str | None:
    """Plain words for a technical code (IMY v Spotify), or None when the value speaks for itself."""
    current = ctx.current
    if value in (None, ""):
        return None
    key = f"{table}.{name}"
    if name == "language":
        return _language_name(str(value))
    if name == "country":
        return _country(str(value))
    if name == "notice_version":
        return _notice_words(ctx.notices.get(int(value)))
    if key == "people.Person.organization":
        org = ctx.organisation_names.get(int(value))
        return gettext("%(name)s (shown under “The business you work for”)") % {"name": org} if org else None
    if key == "people.Person.last_contact_at":
        return gettext("The last contact you took part in; it decides how long we keep your data (§9).")
    if key == "people.Organization.industry_code":
        version = row.get("industry_code_version") or ""
        return gettext(
            "Industry code %(code)s in the standard industrial classification %(version)s (based on the EU's "
            "NACE): the industry your business mainly works in, as registered in the public business register."
        ) % {"code": value, "version": version or gettext("(version not recorded)")}
    if key == "people.Organization.org_number":
        return gettext("The number that identifies your business in the public business register.")
    if table == "people.Provenance" and name == "field":
        if value == PROVENANCE_ALL_FIELDS:
            return gettext("All the details in the record")
        word = FIELD_WORDS.get(f"{PERSON_KEY}.{value}") or FIELD_WORDS.get(f"people.Organization.{value}")
        return str(word) if word is not None else None
    if table == "people.Provenance" and name == "source":
        return str(_source(ctx, str(value))["label"])
    if name == "kind" and str(value) in KIND_WORDS:
        return _word(KIND_WORDS, value)
    if name == "direction":
        return _word(DIRECTION_WORDS, value)
    if name == "reached":
        return gettext("yes") if value else gettext("no")
    if table == "consent.ConsentEvent":
        if name == "purpose" and value in current.purposes:
            return _label(current.purposes[value].label, ctx.language, current)
        if name == "channel":
            if value in current.channels:
                return _label(current.channels[value].label, ctx.language, current)
            return gettext("every channel")
        if name == "action":
            return _word(ACTION_WORDS, value)
        if name == "basis":
            return _word(BASIS_WORDS, value)
        if name == "source_kind" and value in current.sources:
            return _label(current.sources[value].label, ctx.language, current)
        if name == "evidence_ip":
            return gettext("Shortened, so it does not point to one device; kept as proof of your choice.")
    if key == "people.ProductInterest.status":
        return _word(INTEREST_WORDS, value)
    if key == "consent.NoticeDelivery.channel" and value in current.channels:
        return _label(current.channels[value].label, ctx.language, current)
    if key == "people.Dialogue.kind":
        purpose = dict(getattr(current.partners, "dialogues", {}) or {}).get(str(value), "")
        if purpose in current.purposes:
            return gettext("A dialogue for: %(purpose)s") % {
                "purpose": _label(current.purposes[purpose].label, ctx.language, current)
            }
    if name in ("source", "source_kind") and str(value) in current.sources:
        return _label(current.sources[str(value)].label, ctx.language, current)
    return _choice_word(table, name, value)


def _choice_word(table: str, name: str, value: Any) -> str | None:
    """The model's own word for a stored choice (a status, a kind), when it has one."""
    model = _model(table)
    field = _concrete(model, name) if model is not None else None
    if field is None or not field.choices:
        return None
    for choice, word in field.flatchoices:
        if str(choice) == str(value):
            return str(word)
    return None


def _source(ctx: _Context, key: str) -> dict[str, Any]:
    current = ctx.current
    if key in current.sources:
        source = current.sources[key]
        return {"key": key, "label": _label(source.label, ctx.language, current), "direct": source.direct}
    word = PSEUDO_SOURCES.get(key)
    return {"key": key, "label": str(word) if word is not None else key, "direct": True}


def _row_source(table: str, row: Mapping[str, Any], current: Policy) -> str:
    """Where a row without field provenance came from."""
    if table == "people.Interaction":
        if row.get("direction") == "inbound":
            return INBOUND_SOURCES.get(str(row.get("kind")), SOURCE_YOU)
        return SOURCE_US
    if table == "people.QuarantinedText":
        return INBOUND_SOURCES.get(str(row.get("source")), SOURCE_US)
    if table == "consent.ConsentEvent":
        kind = str(row.get("source_kind") or "")
        return kind if kind in current.sources else SOURCE_YOU
    if table == "consent.Subscription":
        return SOURCE_YOU
    if table == "people.CustomerRelationship":
        return "order"
    return SOURCE_US


# --- the access answer -----------------------------------------------------------------------


def access_answer(*, person_id: int, language: str, now: dt.datetime) -> dict[str, Any]:
    """The complete answer to an access request (GDPR art. 15) in ``language``, as JSON-ready
    data that validates against ``access.schema.json``. Raises ``LookupError`` for an unknown
    person. A pure read: one query per table."""
    current = policy.current()
    if language not in current.languages:
        language = current.default_language
    with translation.override(language):
        return _access_answer(person_id=person_id, language=language, now=now, current=current)


def _access_answer(*, person_id: int, language: str, now: dt.datetime, current: Policy) -> dict[str, Any]:
    read = _read(person_id)
    plans = {plan.key: plan for plan in table_plans()}
    notice_ids = {
        int(row[_attname(plans[table].model, name)])
        for table, rows in read.rows.items()
        for row in rows
        for name, _category in plans[table].fields
        if name == "notice_version" and row.get(_attname(plans[table].model, name)) is not None
    }
    notices = {
        n["pk"]: dict(n) for n in NoticeVersion.objects.filter(pk__in=notice_ids).values("pk", "published_at", "digest")
    }
    ctx = _Context(
        current=current,
        language=language,
        notices=notices,
        organisation_names={row["pk"]: row.get("name") or "" for row in read.rows.get("people.Organization", [])},
    )

    tables: list[dict[str, Any]] = []
    categories_present: dict[str, set[str]] = defaultdict(set)  # category -> table keys
    sources_seen: dict[str, dict[str, Any]] = {}

    def note_source(key: str, label: str, at: Any) -> None:
        entry = sources_seen.setdefault(key, {"fields": [], "first": at, "last": at})
        if label not in entry["fields"]:
            entry["fields"].append(label)
        if at is not None:
            entry["first"] = at if entry["first"] is None else min(entry["first"], at)
            entry["last"] = at if entry["last"] is None else max(entry["last"], at)

    for key, plan in plans.items():
        rows_out = []
        for row in read.rows.get(key, []):
            row_at = row.get(plan.timestamp) if plan.timestamp else None
            field_provenance = read.provenance.get((key, row["pk"]), {})
            fields_out = []
            for name, category in plan.fields:
                value = row.get(_attname(plan.model, name))
                if value in (None, ""):
                    continue
                label = _field_label(key, name, plan.model)
                records = sorted(
                    [*field_provenance.get(PROVENANCE_ALL_FIELDS, ()), *field_provenance.get(name, ())],
                    key=lambda r: r["recorded_at"],
                )
                if records:
                    latest = records[-1]
                    source_key, recorded_at, detail = latest["source"], latest["recorded_at"], latest["detail"]
                else:
                    source_key, recorded_at, detail = _row_source(key, row, current), row_at, ""
                note_source(source_key, label, recorded_at)
                if category:
                    categories_present[category].add(key)
                fields_out.append(
                    {
                        "field": name,
                        "label": label,
                        "category": category or None,
                        "category_label": _label(current.categories[category].label, language, current)
                        if category in current.categories
                        else None,
                        "value": _json_value(value),
                        "explanation": _explain_value(ctx, key, name, value, row),
                        "source": {**_source(ctx, source_key), "detail": detail or ""},
                        "recorded_at": _json_value(recorded_at),
                        "earlier_sources": [
                            {**_source(ctx, r["source"]), "recorded_at": _json_value(r["recorded_at"])}
                            for r in (records or [])[:-1]
                        ],
                    }
                )
            if fields_out:
                rows_out.append({"id": row["pk"], "recorded_at": _json_value(row_at), "fields": fields_out})
        tables.append(
            {
                "table": key,
                "title": _table_title(key, plan.model),
                "rows": rows_out,
            }
        )

    interactions = read.rows.get("people.Interaction", [])
    consents = read.rows.get("consent.ConsentEvent", [])
    subscriptions = read.rows.get("consent.Subscription", [])
    person = read.person
    answer: dict[str, Any] = {
        "format": "tillit.access-answer",
        "version": FORMAT_VERSION,
        "generated_at": _json_value(now),
        "language": language,
        "controller": _controller(current),
        "subject": {
            "reference": str(person["pseudonym"]),
            "name": person["name"],
            "registered_at": _json_value(person["created_at"]),
        },
        "personal_data": tables,
        "timeline": [_timeline_entry(ctx, row) for row in reversed(interactions)],
        "consents": [_consent_entry(ctx, row) for row in reversed(consents)],
        "subscriptions": [
            {
                "newsletter": row.get("newsletter", ""),
                "subscribed_at": _json_value(row.get("subscribed_at")),
                "unsubscribed_at": _json_value(row.get("unsubscribed_at")),
                "is_open": row.get("unsubscribed_at") is None,
            }
            for row in subscriptions
        ],
        "purposes": _purposes(current, language, categories_present),
        "categories": [
            {
                "key": category,
                "label": _label(current.categories[category].label, language, current)
                if category in current.categories
                else category,
                "tables": sorted(tables_),
            }
            for category, tables_ in sorted(categories_present.items(), key=lambda c: _category_order(current, c[0]))
        ],
        "recipients": _recipients(current, language, _disclosures(person["pseudonym"])),
        "retention": _retention(ctx, person, categories_present, interactions),
        "rights": _rights(current),
        "complaint": _complaint(current),
        "sources": _sources(ctx, sources_seen),
        "automated_decisions": {
            "exists": False,
            "description": gettext(
                "We make no decisions about you by automated means alone, and no profiling that has legal or "
                "similarly significant effects for you (GDPR art. 22). Staff decide on every contact."
            ),
        },
        "transfers": _transfers(current, language),
        "staff_access": _staff_access(ctx, person_id),
        "restriction": _restriction(person_id),
    }
    return answer


def _restriction(person_id: int) -> dict[str, Any]:
    """Whether the processing of the person's data is restricted now (GDPR art. 18), since
    when and on which grounds, in words, and every restriction they had (with its lift)."""
    from tillit.people.restrictions import restriction_history
    from tillit.rights.mail import GROUNDS_LABELS

    raw = restriction_history(person_id=person_id)
    history = [
        {
            "grounds": r["grounds"],
            "article": r["article"],
            "words": str(GROUNDS_LABELS.get(r["grounds"], r["grounds"])),
            "restricted_at": _json_value(r["restricted_at"]),
            "lifted_at": _json_value(r["lifted_at"]),
        }
        for r in raw
    ]
    current = next((r for r in raw if r["lifted_at"] is None), None)
    if current is None:
        words = gettext("The processing of your data is not restricted.")
    else:
        words = gettext(
            "The processing of your data is restricted since %(since)s (GDPR art. %(article)s): we keep your data "
            "but do not use it, and we tell you before we lift the restriction."
        ) % {"since": _local_date(current["restricted_at"]), "article": current["article"]}
    return {"is_restricted": current is not None, "words": words, "history": history}


def _category_order(current: Policy, key: str) -> int:
    order = list(current.categories)
    return order.index(key) if key in order else len(order)


def _controller(current: Policy) -> dict[str, Any]:
    c = current.controller
    return {
        "name": c.name,
        "organisation_number": c.organisation_number,
        "address": f"{c.street}, {c.postcode} {c.city}, {_country(c.country)}",
        "email": c.email,
        "phone": c.phone,
        "website": c.website,
        "rights_email": current.rights.contact_email,
    }


def _timeline_entry(ctx: _Context, row: Mapping[str, Any]) -> dict[str, Any]:
    kind, direction = str(row.get("kind", "")), str(row.get("direction", ""))
    return {
        "occurred_at": _json_value(row.get("occurred_at")),
        "kind": kind,
        "kind_words": _word(KIND_WORDS, kind),
        "direction": direction,
        "direction_words": _word(DIRECTION_WORDS, direction),
        "reached": bool(row.get("reached")),
        "subject": row.get("subject", ""),
        "summary": row.get("summary", ""),
        "source": _source(ctx, _row_source("people.Interaction", row, ctx.current)),
    }


def _consent_entry(ctx: _Context, row: Mapping[str, Any]) -> dict[str, Any]:
    current, language = ctx.current, ctx.language
    purpose, channel = str(row.get("purpose", "")), str(row.get("channel", ""))
    notice_id = row.get("notice_version_id")
    notice = ctx.notices.get(int(notice_id)) if notice_id is not None else None
    return {
        "occurred_at": _json_value(row.get("occurred_at")),
        "purpose": purpose,
        "purpose_label": _label(current.purposes[purpose].label, language, current)
        if purpose in current.purposes
        else purpose,
        "channel": channel,
        "channel_label": _label(current.channels[channel].label, language, current)
        if channel in current.channels
        else gettext("every channel"),
        "action": row.get("action", ""),
        "action_words": _word(ACTION_WORDS, row.get("action", "")),
        "basis_words": _word(BASIS_WORDS, row.get("basis", "")),
        "wording": row.get("wording", ""),
        "wording_language": row.get("language", ""),
        "source": _source(ctx, _row_source("consent.ConsentEvent", row, current)),
        "source_ref": row.get("source_ref", ""),
        "notice_version": {
            "id": notice_id,
            "published_at": _json_value(notice["published_at"]) if notice else None,
            "digest": notice["digest"] if notice else None,
            "words": _notice_words(notice),
        },
    }


def _purposes(current: Policy, language: str, present: Mapping[str, set[str]]) -> list[dict[str, Any]]:
    result = []
    for purpose in current.purposes.values():
        bases = []
        for channel, basis in purpose.bases.items():
            assessment = current.assessments.get(purpose.assessment or "") if basis == "legitimate_interest" else None
            bases.append(
                {
                    "channel": channel,
                    "channel_label": _label(current.channels[channel].label, language, current),
                    "basis": basis,
                    "basis_words": _word(BASIS_WORDS, basis),
                    "assessment": policy_text(assessment.title, language) if assessment else None,
                    "assessment_dated": assessment.dated.isoformat() if assessment else None,
                    "exceptions": list(purpose.exceptions.get(channel, ())),
                }
            )
        result.append(
            {
                "key": purpose.key,
                "label": _label(purpose.label, language, current),
                "section": purpose.section,
                "bases": bases,
                "categories": [c for c in purpose.categories if c in present],
                "objectable": purpose.objectable,
                "marketing": purpose.marketing,
            }
        )
    return result


def _disclosures(pseudonym: Any) -> list[dict[str, Any]]:
    from tillit.sharing.selectors import disclosures_for_person

    return disclosures_for_person(pseudonym=pseudonym)


def _recipients(current: Policy, language: str, disclosures: list[dict[str, Any]]) -> dict[str, Any]:
    partners = [
        {
            "name": d["partner"]["name"],
            "org_number": d["partner"]["org_number"] or "",
            # GDPR art. 26, 28: what the partner is to us, and a joint controller's arrangement.
            "role": d["partner"].get("role", "independent_controller"),
            "role_words": str(
                PARTNER_ROLE_WORDS.get(d["partner"].get("role", ""), PARTNER_ROLE_WORDS["independent_controller"])
            ),
            "arrangement": _label(current.joint_controllers[d["partner"]["key"]].essence, language, current)
            if d["partner"].get("role") == "joint_controller" and d["partner"]["key"] in current.joint_controllers
            else "",
            "disclosed_at": _json_value(d["disclosed_at"]),
            "categories": [
                _label(current.categories[c].label, language, current) if c in current.categories else c
                for c in d["fields"]
            ],
            "purpose": _label(current.purposes[d["purpose"]].label, language, current)
            if d["purpose"] in current.purposes
            else d["purpose"],
        }
        for d in disclosures
    ]
    return {
        "processors": [
            {
                "name": p.name,
                "role": policy_text(p.role, language),
                "country": p.country,
                "country_name": _country(p.country),
                "location": policy_text(p.location, language),
                "agreement_dated": p.agreement_dated.isoformat(),
                "sub_processors": [
                    {
                        "name": policy_text(s.name, language),
                        "service": policy_text(s.service, language),
                        "country": s.country,
                        "country_name": _country(s.country),
                        "transfer": transfer_words(s.transfer),
                    }
                    for s in p.sub_processors
                ],
            }
            for p in current.processors.values()
        ],
        # Each disclosure by name and date, from the disclosure ledger (policy §11; CJEU C-154/21).
        "partners": partners,
        "partners_note": gettext(
            "Partners may receive only your name, email address, phone number and business (and, for an "
            "event run with them, your answers to its form), and only during an open dialogue with you "
            "(§11). Each disclosure is listed here by name and date. We never sell personal data."
        )
        if partners
        else gettext(
            "We have no record of disclosing your data to any partner. Partners may receive only your name, "
            "email address, phone number and business, and only during an open dialogue with you (§11); "
            "every disclosure will be listed here by name. We never sell personal data."
        ),
        "sells_data": current.partners.sells_data,
    }


def _retention_words(reason: str, until: dt.datetime | None) -> str:
    """Why we still keep the reader's data and until when, addressed to them (§9); the staff
    pages say the same of "the person" (``retention.selectors.explain``)."""
    if until is None:
        if reason == retention_rules.CUSTOMER:
            return gettext("Kept while your customer relationship is active (section 9 of the privacy notice).")
        if reason == retention_rules.SUBSCRIBED:
            return gettext("Kept while you subscribe to a newsletter, then 2 years (section 9 of the privacy notice).")
        return explain(reason, until)
    texts = {
        retention_rules.DIALOGUE: gettext(
            "Kept until %(date)s: 2 years after the last contact you took part in (section 9 of the privacy notice)."
        ),
        retention_rules.UNSUBSCRIBED: gettext(
            "Kept until %(date)s: 2 years after you unsubscribed from the newsletter (section 9 of the privacy notice)."
        ),
        retention_rules.CUSTOMER_ENDED: gettext(
            "Kept until %(date)s: 2 years after your customer relationship ended (section 9 of the privacy notice)."
        ),
        retention_rules.REGISTERED: gettext(
            "Kept until %(date)s: 2 years after you were registered, with no contact since (section 9 of the "
            "privacy notice)."
        ),
    }
    text = texts.get(reason, gettext("Kept until %(date)s (section 9 of the privacy notice)."))
    return text % {"date": _local_date(until)}


def _retention(
    ctx: _Context,
    person: Mapping[str, Any],
    present: Mapping[str, set[str]],
    interactions: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    current = ctx.current
    until, reason = person.get("retain_until"), person.get("retain_reason") or ""
    words = _retention_words(reason, until)
    orders = [row["occurred_at"] for row in interactions if row.get("kind") == "order" and row.get("occurred_at")]
    order_categories = (
        {c for c, tables in present.items() if "people.Interaction" in tables} | {"customer_records"}
        if orders
        else set()
    )
    holds = []
    if orders:
        for hold in current.retention.legal_holds.values():
            held_until = retention_rules.legal_hold_until(current, hold.key, max(orders))
            holds.append(
                {
                    "records": "; ".join(_word(RECORD_WORDS, r) for r in hold.records),
                    "until": _json_value(held_until),
                    "basis": policy_text(hold.basis, ctx.language),
                    "explanation": gettext(
                        "Records of your orders are kept until %(date)s, %(years)s years after the end of the "
                        "financial year, even if everything else about you is erased earlier: %(basis)s."
                    )
                    % {
                        "date": _local_date(held_until),
                        "years": hold.years,
                        "basis": policy_text(hold.basis, ctx.language),
                    },
                }
            )
    result = []
    for category in sorted(present, key=lambda c: _category_order(current, c)):
        result.append(
            {
                "category": category,
                "label": _label(current.categories[category].label, ctx.language, current)
                if category in current.categories
                else category,
                "until": _json_value(until),
                "reason": reason,
                "explanation": words,
                "legal_holds": holds if category in order_categories else [],
            }
        )
    return result


def _rights(current: Policy) -> dict[str, Any]:
    return {
        "available": [{"key": right, "words": _word(RIGHT_WORDS, right)} for right in current.rights.available],
        "how": ngettext(
            "Write to %(email)s or use the rights page on our website. We answer within %(months)s month; "
            "for complex requests we may extend this by %(extension)s months, and we will tell you why within "
            "the first month. Using your rights is free.",
            "Write to %(email)s or use the rights page on our website. We answer within %(months)s months; "
            "for complex requests we may extend this by %(extension)s months, and we will tell you why within "
            "the first month. Using your rights is free.",
            current.rights.response_months,
        )
        % {
            "email": current.rights.contact_email,
            "months": current.rights.response_months,
            "extension": current.rights.extension_months,
        },
        "contact_email": current.rights.contact_email,
        "response_months": current.rights.response_months,
        "extension_months": current.rights.extension_months,
    }


def _complaint(current: Policy) -> dict[str, Any]:
    authority = current.supervisory_authority
    return {
        "authority": authority.name,
        "website": authority.website,
        "country": authority.country,
        "words": gettext(
            "If you think we process your personal data unlawfully, you may complain to %(name)s (%(website)s), "
            "the supervisory authority in %(country)s, or to the authority where you live or work."
        )
        % {"name": authority.name, "website": authority.website, "country": _country(authority.country)},
    }


def _sources(ctx: _Context, seen: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for key, entry in seen.items():
        source = _source(ctx, key)
        if source["direct"]:
            words = gettext("You gave us this yourself, or it came from your contact with us: %(fields)s.")
        else:
            words = gettext(
                "We did not get this from you but from this source (GDPR art. 14): %(fields)s. You may object, "
                "and ask us to correct or erase it."
            )
        result.append(
            {
                **source,
                "fields": list(entry["fields"]),
                "first_recorded_at": _json_value(entry["first"]),
                "last_recorded_at": _json_value(entry["last"]),
                "words": words % {"fields": ", ".join(entry["fields"])},
            }
        )
    result.sort(key=lambda s: (s["direct"], s["key"]))  # indirect sources first: they need telling
    return result


def _transfers(current: Policy, language: str) -> dict[str, Any]:
    outside = [
        {"name": policy_text(s.name, language), "country": s.country, "transfer": transfer_words(s.transfer)}
        for p in current.processors.values()
        for s in p.sub_processors
        if s.transfer is not None
    ]
    if outside:
        words = gettext("Your data is stored in %(location)s. Transfers outside the EU/EEA and their safeguards:")
    else:
        words = gettext("Your data is stored in %(location)s. It is not transferred outside the EU/EEA.")
    return {
        "outside_eea": bool(outside),
        "safeguards": outside,
        "words": words % {"location": policy_text(current.storage.location, language)},
    }


def _staff_access(ctx: _Context, person_id: int) -> list[dict[str, Any]]:
    """Who inside looked at or changed the person's data, when and why (the audit log; ids and
    field names only, never values, and only entries about this person)."""
    current, language = ctx.current, ctx.language
    entries = (
        AuditEntry.objects.filter(subject_type="person", subject_id=person_id)
        .order_by("-sequence")
        .values("at", "actor_kind", "actor_label", "actor_role", "action", "purpose", "fields")
    )
    result = []
    for entry in entries:
        role, purpose = entry["actor_role"] or "", entry["purpose"] or ""
        result.append(
            {
                "at": _json_value(entry["at"]),
                "actor_kind": entry["actor_kind"],
                "actor_words": _word(ACTOR_WORDS, entry["actor_kind"]),
                "actor": entry["actor_label"],
                "role": role,
                "role_label": _label(current.roles[role].label, language, current) if role in current.roles else "",
                "action": entry["action"],
                "action_words": _word(AUDIT_ACTION_WORDS, entry["action"]),
                "purpose": purpose,
                "purpose_label": _label(current.purposes[purpose].label, language, current)
                if purpose in current.purposes
                else "",
                "fields": [str(f) for f in entry["fields"] or []],
            }
        )
    return result


@lru_cache(maxsize=1)
def access_schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of the access answer."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


# --- HTML and PDF ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _public_css() -> str:
    from django.contrib.staticfiles import finders

    found = finders.find("public/public.css")
    path = found[0] if isinstance(found, list) else found
    return Path(path).read_text(encoding="utf-8") if path else ""


def render_access_html(answer: Mapping[str, Any], language: str) -> str:
    """The access answer as a readable, printable page in ``language`` (``rights/access.html``)."""
    current = policy.current()
    if language not in current.languages:
        language = current.default_language
    shown = {"people.Interaction", "consent.ConsentEvent", "consent.Subscription"}
    names = _newsletter_names(language)
    subscriptions = [{**s, "name": names.get(s["newsletter"], s["newsletter"])} for s in answer["subscriptions"]]
    with translation.override(language):
        return render_to_string(
            "rights/access.html",
            {
                "a": answer,
                "language": language,
                "css": _public_css(),
                "tables": [t for t in answer["personal_data"] if t["table"] not in shown and t["rows"]],
                "subscriptions": subscriptions,
            },
        )


def _newsletter_names(language: str) -> dict[str, str]:
    """The newsletters by their name in ``language`` (a subscription stores the key)."""
    from tillit.marketing import selectors as marketing_selectors

    return {
        n.key: marketing_selectors.label(n.name, language)
        for n in marketing_selectors.newsletters(include_archived=True)
    }


def render_access_pdf(answer: Mapping[str, Any], language: str) -> bytes:
    """The access answer as a PDF (WeasyPrint, from the same page as ``render_access_html``)."""
    import logging

    from weasyprint import HTML  # imported here: it loads pango, which only this needs

    # WeasyPrint warns about screen-only CSS of the public stylesheet (media queries it does not
    # know); those warnings say nothing useful here, so only its errors are logged.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    return HTML(string=render_access_html(answer, language)).write_pdf()  # type: ignore[no-any-return]


# --- portability (art. 20) -------------------------------------------------------------------


def provided_data(*, person_id: int) -> dict[str, list[dict[str, Any]]]:
    """The data the person provided (GDPR art. 20), per table: the person's own fields whose
    latest source is one where they gave it to us, the interactions they sent, their consents,
    subscriptions and product interests. Staff-only data (staff, notes, audit) is not included.
    One query per table."""
    read = _read(person_id, where=PROVIDED_ROWS)
    current = policy.current()
    plans = {plan.key: plan for plan in table_plans()}
    result: dict[str, list[dict[str, Any]]] = {}
    person_plan = plans.get(PERSON_KEY)
    if person_plan is not None:
        own = read.provenance.get((PERSON_KEY, person_id), {})
        item: dict[str, Any] = {}
        for name, _category in person_plan.fields:
            records = own.get(name)
            if not records or not _is_direct(current, records[-1]["source"]):
                continue
            value = read.person.get(_attname(Person, name))
            if value in (None, ""):
                continue
            if name == "organization":
                orgs = read.rows.get("people.Organization") or []
                value = orgs[0].get("name", "") if orgs else ""
            item[name] = _json_value(value)
        result[PERSON_KEY] = [item] if item else []
    for key in PROVIDED_ROWS:
        plan = plans.get(key)
        if plan is None:
            continue
        rows = []
        for row in read.rows.get(key, []):
            rows.append(
                {
                    name: _json_value(row.get(_attname(plan.model, name)))
                    for name, category in plan.fields
                    if category  # personal fields only
                }
            )
        result[key] = rows
    return result


def _is_direct(current: Policy, source: str) -> bool:
    found = current.sources.get(source)
    return bool(found and found.direct)


def portability_schema(tables: Mapping[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``data.json`` in the portability file, from the models'
    field types and the registry."""
    plans = {plan.key: plan for plan in table_plans()}
    properties: dict[str, Any] = {}
    for key in [PERSON_KEY, *PROVIDED_ROWS]:
        plan = plans.get(key)
        if plan is None:
            continue
        columns = {}
        for name, category in plan.fields:
            if not category:
                continue
            field = _concrete(plan.model, name)
            columns[name] = {
                "description": f"{_field_label(key, name, plan.model)} ({category})",
                **_json_type(field, organisation=name == "organization"),
            }
        properties[key] = {
            "type": "array",
            "items": {"type": "object", "properties": columns, "additionalProperties": False},
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tillit portability export (GDPR art. 20)",
        "type": "object",
        "required": ["format", "version", "generated_at", "controller", "tables"],
        "properties": {
            "format": {"const": "tillit.portability"},
            "version": {"const": FORMAT_VERSION},
            "generated_at": {"type": "string", "format": "date-time"},
            "controller": {"type": "string"},
            "tables": {"type": "object", "properties": properties, "additionalProperties": False},
        },
    }


def _json_type(field: models.Field[Any, Any] | None, *, organisation: bool = False) -> dict[str, Any]:
    if organisation:
        return {"type": ["string", "null"]}
    nullable = bool(field is not None and field.null)
    if isinstance(field, models.BooleanField):
        kind: dict[str, Any] = {"type": "boolean"}
    elif isinstance(field, models.DateTimeField):
        kind = {"type": "string", "format": "date-time"}
    elif (field is not None and field.is_relation) or isinstance(field, (models.IntegerField, models.AutoField)):
        kind = {"type": "integer"}
    elif isinstance(field, models.JSONField):
        kind = {}
    else:
        kind = {"type": "string"}
    if nullable and "type" in kind:
        kind["type"] = [kind["type"], "null"]
    return kind


def safe_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def portability_zip(*, person_id: int, now: dt.datetime) -> bytes:
    """The art. 20 file: ``data.json`` (UTF-8), one CSV per table, ``data.schema.json`` and a
    ``README.txt`` describing them, in a zip built in memory."""
    current = policy.current()
    tables = provided_data(person_id=person_id)
    data = {
        "format": "tillit.portability",
        "version": FORMAT_VERSION,
        "generated_at": _json_value(now),
        "controller": current.controller.name,
        "tables": tables,
    }
    plans = {plan.key: plan for plan in table_plans()}
    buffer = io.BytesIO()
    files: list[tuple[str, str, list[str]]] = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False))
        archive.writestr("data.schema.json", json.dumps(portability_schema(), ensure_ascii=False, indent=2))
        for key, rows in tables.items():
            plan = plans[key]
            columns = [name for name, category in plan.fields if category]
            name = f"{key.replace('.', '_').lower()}.csv"
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow([safe_cell(row.get(column)) for column in columns])
            archive.writestr(name, out.getvalue())
            files.append((name, _table_title(key, plan.model), columns))
        archive.writestr("README.txt", _readme(current, files))
    return buffer.getvalue()


def _readme(current: Policy, files: list[tuple[str, str, list[str]]]) -> str:
    with translation.override("en"):
        lines = [
            f"Your data from {current.controller.name} (GDPR art. 20, data portability)",
            "",
            "This file holds the personal data you provided to us, in a structured, commonly used and",
            "machine-readable format: the details you gave us yourself, the forms, messages and other",
            "contact you sent us, your consents (with the exact wording you were shown), your newsletter",
            "subscriptions and the products and services you told us about. Notes by our staff and the",
            "log of our staff's access are not included; ask for a copy of all your data (art. 15) to see them.",
            "",
            "Files:",
            "- data.json: everything, as JSON (UTF-8). Top-level keys: format ('tillit.portability'),",
            "  version, generated_at (UTC, ISO 8601), controller, and tables: one list of records per table.",
            "- data.schema.json: the JSON Schema (draft 2020-12) that data.json follows.",
        ]
        for name, title, columns in files:
            lines.append(f"- {name}: {title}. Columns: {', '.join(columns) or '(none)'}.")
        lines += [
            "",
            "The CSV files are UTF-8, comma-separated, with a header row. A cell that begins with = + - or @",
            "starts with an extra ' so that a spreadsheet shows it as text and never runs it as a formula.",
            "Moments are in UTC (ISO 8601).",
            "",
            f"Questions: {current.rights.contact_email}",
            "",
        ]
    return "\n".join(lines)
