"""The read gate: the only way personal data about people and organisations is read.

Every read names a purpose. The gate asks the rulebook (``tillit.policy.purposes``) which
categories the actor's role may see for that purpose, maps them to fields through the
classification registry, returns only those fields, and writes an audit entry per record
read. A role that may not use the purpose at all is refused; a record the role may not see
answers exactly like a missing one.

A person can be read for a purpose only if they were told about it (§14), no objection of
theirs stops it (GDPR art. 21; ``tillit.policy.purposes.stopped_by_objection``) and the
processing of their data is not restricted (art. 18), unless the policy's ``[restriction]``
lets the role or the purpose read it (``tillit.policy.restriction.may_read_restricted``). Any other way
of reading personal data for staff (a dialogue's people, a call list, an export) goes through
the functions here: ``people_among``, ``people_by_ids`` and ``visible_person_ids``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from tillit import policy
from tillit.audit import services as audit
from tillit.consent import selectors as consent_selectors
from tillit.consent.models import ConsentEvent
from tillit.core.actors import Actor
from tillit.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from tillit.core.pagination import Page, check_page
from tillit.people.models import CustomerRelationship, Interaction, Organization, Person, Provenance
from tillit.people.restrictions import restricted_q
from tillit.policy import purposes as purpose_rules
from tillit.policy import restriction as restriction_rules
from tillit.policy.sole_proprietorship import names_a_person
from tillit.retention.selectors import explain as explain_retention

PERSON = "people.Person"
ORGANIZATION = "people.Organization"
# Fields shown with every visible record: ids and the retention answer (§9), not categories.
_ALWAYS = ("id", "retain_until", "retain_reason")


# What every refusal of one person says: missing, not told about the purpose (§14) and stopped
# by an objection (art. 21) read the same, so a refusal reveals nothing about the person.
NOT_FOUND_MESSAGE = "no such person"


def resolve_purpose(actor: Actor, purpose: str | None) -> str:
    """The purpose of a read: the one asked for, or the role's first purpose by default."""
    current = policy.current()
    if purpose is None or purpose == "":
        own = purpose_rules.purposes_for_role(current, actor.role)
        if not own:
            raise PermissionDeniedError("your role may not read personal data for any purpose", field="purpose")
        return own[0]
    if purpose not in current.purposes:
        raise ValidationError(f"unknown purpose {purpose!r}", field="purpose")
    if not purpose_rules.may_use_purpose(current, actor.role, purpose):
        raise PermissionDeniedError(f"your role may not read personal data for {purpose!r}", field="purpose")
    return purpose


def _fields(actor: Actor, purpose: str, model_key: str) -> frozenset[str]:
    return purpose_rules.visible_fields(policy.current(), actor.role, purpose, model_key)


def _person_dict(person: Person, fields: frozenset[str], org_fields: frozenset[str]) -> dict[str, Any]:
    data: dict[str, Any] = {name: getattr(person, name) for name in _ALWAYS}
    data["retain_explanation"] = explain_retention(person.retain_reason, person.retain_until)
    for name in ("name", "email", "phone", "position", "language", "last_contact_at"):
        if name in fields:
            data[name] = getattr(person, name)
    if "organization" in fields and person.organization is not None:
        data["organization"] = _organization_dict(person.organization, org_fields)
    return data


def _organization_dict(organization: Organization, fields: frozenset[str]) -> dict[str, Any]:
    data: dict[str, Any] = {"id": organization.pk}
    for name in (
        "name",
        "org_number",
        "industry_code",
        "industry_code_version",
        "street",
        "postcode",
        "city",
        "country",
    ):
        if name in fields or (name == "industry_code_version" and "industry_code" in fields):
            data[name] = getattr(organization, name)
    return data


def get_person(*, actor: Actor, now: dt.datetime, person_id: int, purpose: str | None = None) -> dict[str, Any]:
    """One person as the actor's role may see them for ``purpose``; audited as a read."""
    purpose = resolve_purpose(actor, purpose)
    fields = _fields(actor, purpose, PERSON)
    person = _visible_people(actor, purpose).select_related("organization").filter(pk=person_id).first()
    if person is None:
        raise NotFoundError(NOT_FOUND_MESSAGE)
    audit.record(
        actor=actor,
        now=now,
        action="read",
        subject_type="person",
        subject_id=person.pk,
        purpose=purpose,
        fields=fields,
    )
    return {
        "purpose": purpose,
        **_person_dict(person, fields, _fields(actor, purpose, ORGANIZATION)),
        "marketing_blocked": marketing_blocked(person),
        "restriction": restriction_notice(person.pk),
    }


def restriction_notice(person_id: int) -> dict[str, Any] | None:
    """The restriction of the person's processing in force (GDPR art. 18), with a sentence for
    staff in the active language, shown with every read of one person (only a reader the
    policy's ``[restriction]`` allows sees a restricted person at all); None when there is none."""
    from tillit.people.restrictions import restriction_in_force

    found = restriction_in_force(person_id=person_id)
    if found is None:
        return None
    message = _(
        "The processing of this person's data is restricted since %(date)s (GDPR art. %(article)s): "
        "store it, do not use it. No campaign, call list or disclosure."
    ) % {"date": found.restricted_at.date().isoformat(), "article": restriction_rules.ARTICLE.get(found.grounds, "18")}
    return {"since": found.restricted_at, "grounds": found.grounds, "message": message}


def marketing_blocked(person: Person) -> dict[str, Any] | None:
    """Whether marketing to the person is blocked, since when and why: their objection to
    direct marketing in the ledger, or their address or number on the suppression list (they
    asked to be removed, or mail to them bounced). Shown with every read of one person, for
    any purpose, so that nobody who talks to them markets to them by mistake (art. 21(3)).
    None when marketing is not blocked."""
    objected_at = (
        ConsentEvent.objects.filter(
            person=person, purpose="direct_marketing", channel=consent_selectors.ALL_CHANNELS, action="objected"
        )
        .order_by("occurred_at", "pk")
        .values_list("occurred_at", flat=True)
        .first()
    )
    if objected_at is not None:
        return _blocked(objected_at, "objected")
    entry = consent_selectors.suppression_entry(email=person.email, phone=person.phone)
    if entry is not None:
        return _blocked(entry.created_at, entry.reason)
    return None


def _blocked(since: dt.datetime, reason: str) -> dict[str, Any]:
    """The block with a sentence for staff, in the active language. ``reason``: ``objected``
    (this person's objection, in the ledger) or the suppression list's reason (``objection``,
    ``withdrawal``, ``complaint``: they asked to be removed; ``bounce``: mail did not arrive)."""
    date = since.date().isoformat()
    if reason == "objected":
        message = _("This person objected to direct marketing on %(date)s; marketing to them is blocked.")
    elif reason == "bounce":
        message = _("Email to this person bounced on %(date)s; marketing to them is blocked.")
    else:
        message = _("This person asked to be removed on %(date)s; marketing to them is blocked.")
    return {"since": since, "reason": reason, "message": message % {"date": date}}


def _visible_people(actor: Actor, purpose: str) -> QuerySet[Person]:
    """The people whose data may be used for the purpose: those who were given a notice that
    names it (§14) and whose objections do not stop it (art. 21). A legal obligation (answering
    a rights request) reaches everyone. A person whose processing is restricted (art. 18) is
    seen only by a role or for a purpose of the policy's ``[restriction]``."""
    people = Person.objects.all()
    if not restriction_rules.may_read_restricted(policy.current(), actor.role, purpose):
        # Art. 18(2): a restricted person is stored, not used; read only as the policy allows.
        people = people.exclude(restricted_q())
    if _is_legal_obligation(purpose):
        return people
    people = people.filter(notice_version_id__in=consent_selectors.versions_with_purpose(purpose))
    stopped = _stopped_by_objection(purpose)
    return people.exclude(stopped) if stopped is not None else people


def _latest_objected(purpose: str, channel: str | None) -> Exists:
    """People whose latest ledger entry for ``purpose`` (on ``channel``, or on any one channel)
    is an objection: the state ``consent_selectors.consent_state`` derives, in SQL."""
    objections = ConsentEvent.objects.filter(person=OuterRef("pk"), purpose=purpose, action="objected")
    if channel is not None:
        objections = objections.filter(channel=channel)
    later = ConsentEvent.objects.filter(
        person=OuterRef("person"),
        purpose=purpose,
        channel=OuterRef("channel"),
        occurred_at__gt=OuterRef("occurred_at"),
    )
    return Exists(objections.exclude(Exists(later)))


def _stopped_by_objection(purpose: str) -> Q | None:
    """The condition on people for whom an objection stops ``purpose`` (the rule:
    ``tillit.policy.purposes.stopped_by_objection``), or None if no objection can stop it."""
    current = policy.current()
    condition: Q | None = None
    if purpose in purpose_rules.stopped_by_objection(current, objected_to_marketing=True):
        condition = Q(_latest_objected("direct_marketing", consent_selectors.ALL_CHANNELS))
    if purpose in purpose_rules.stopped_by_objection(
        current, objected_to_marketing=False, objected_purposes=frozenset({purpose})
    ):
        own = Q(_latest_objected(purpose, None))
        condition = own if condition is None else condition | own
    return condition


def readable_purposes(*, actor: Actor, person_id: int) -> list[str]:
    """The purposes of the actor's role for which the gate shows this person now, in policy
    order (none if the person does not exist). Reads no personal data; not audited."""
    current = policy.current()
    return [
        purpose
        for purpose in purpose_rules.purposes_for_role(current, actor.role)
        if _visible_people(actor, purpose).filter(pk=person_id).exists()
    ]


def visible_person_ids(*, actor: Actor, purpose: str, person_ids: Iterable[int]) -> set[int]:
    """Which of ``person_ids`` the gate lets the actor use for ``purpose`` (existing, told
    about the purpose, not stopped by an objection), in one query. A system job acting for a
    feature (no role) passes the role check but not the person's. Reads no personal data."""
    if actor.kind != "system":
        purpose = resolve_purpose(actor, purpose)
    elif purpose not in policy.current().purposes:
        raise ValidationError(f"unknown purpose {purpose!r}", field="purpose")
    ids = list(dict.fromkeys(int(p) for p in person_ids))
    return set(_visible_people(actor, purpose).filter(pk__in=ids).values_list("pk", flat=True))


def people_by_ids(
    *, actor: Actor, now: dt.datetime, purpose: str, person_ids: Iterable[int], action: str = "read"
) -> dict[int, dict[str, Any]]:
    """The people among ``person_ids`` the actor may see for ``purpose``, as the gate shows
    them (only the permitted fields), by id; the others are simply absent, as if missing. One
    audit entry per person shown. At most 2000 ids."""
    purpose = resolve_purpose(actor, purpose)
    ids = list(dict.fromkeys(int(p) for p in person_ids))
    if len(ids) > 2000:
        raise ValidationError("at most 2000 people at a time", field="people")
    fields = _fields(actor, purpose, PERSON)
    org_fields = _fields(actor, purpose, ORGANIZATION)
    people = list(_visible_people(actor, purpose).filter(pk__in=ids).select_related("organization"))
    audit.record_many(
        actor=actor,
        now=now,
        action=action,
        subject_type="person",
        subject_ids=[p.pk for p in people],
        purpose=purpose,
        fields=fields,
    )
    return {p.pk: {"purpose": purpose, **_person_dict(p, fields, org_fields)} for p in people}


def _is_legal_obligation(purpose: str) -> bool:
    return set(policy.current().purposes[purpose].bases.values()) == {"legal_obligation"}


def search_people(
    *,
    actor: Actor,
    now: dt.datetime,
    purpose: str | None = None,
    query: str = "",
    page: int = 1,
    page_size: int = 25,
) -> Page[dict[str, Any]]:
    """People matching ``query`` in the fields the role may see (name, email, phone,
    organisation), newest first; one audit entry per person shown."""
    purpose = resolve_purpose(actor, purpose)
    offset, limit = check_page(page, page_size)
    fields = _fields(actor, purpose, PERSON)
    org_fields = _fields(actor, purpose, ORGANIZATION)
    people = _visible_people(actor, purpose).select_related("organization")
    text = query.strip()
    if len(text) > 200:
        raise ValidationError("a search is at most 200 characters", field="q")
    if text:
        people = people.filter(_search_filter(text, fields))
    rows = list(people.order_by("-id")[offset : offset + limit + 1])
    shown = rows[:limit]
    audit.record_many(
        actor=actor,
        now=now,
        action="search",
        subject_type="person",
        subject_ids=[p.pk for p in shown],
        purpose=purpose,
        fields=fields,
    )
    return Page(
        items=[{"purpose": purpose, **_person_dict(p, fields, org_fields)} for p in shown],
        page=page,
        page_size=limit,
        has_next=len(rows) > limit,
    )


def people_among(
    *,
    actor: Actor,
    now: dt.datetime,
    purpose: str,
    among: QuerySet[Person],
    page: int = 1,
    page_size: int = 25,
    action: str = "search",
) -> Page[dict[str, Any]]:
    """One page (in id order) of the people in ``among`` (a set-based list from a feature app,
    e.g. the call list) as the gate shows them for ``purpose``; one audit entry per person."""
    purpose = resolve_purpose(actor, purpose)
    if page < 1:
        raise ValidationError("page numbers start at 1", field="page")
    if not 1 <= page_size <= 1000:
        raise ValidationError("page_size must be between 1 and 1000", field="page_size")
    offset, limit = (page - 1) * page_size, page_size
    fields = _fields(actor, purpose, PERSON)
    org_fields = _fields(actor, purpose, ORGANIZATION)
    people = _visible_people(actor, purpose).filter(pk__in=among.values("pk")).select_related("organization")
    rows = list(people.order_by("id")[offset : offset + limit + 1])
    shown = rows[:limit]
    audit.record_many(
        actor=actor,
        now=now,
        action=action,
        subject_type="person",
        subject_ids=[p.pk for p in shown],
        purpose=purpose,
        fields=fields,
    )
    return Page(
        items=[{"purpose": purpose, **_person_dict(p, fields, org_fields)} for p in shown],
        page=page,
        page_size=limit,
        has_next=len(rows) > limit,
    )


def _search_filter(text: str, fields: Iterable[str]) -> Q:
    visible = set(fields)
    condition = Q(pk__in=[])
    if "name" in visible:
        condition |= Q(name__icontains=text)
    if "email" in visible:
        condition |= Q(email__icontains=text.lower())
    if "phone" in visible:
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) >= 4:
            condition |= Q(phone__contains=digits)
    if "organization" in visible:
        condition |= Q(organization__name__icontains=text)
        compact = text.replace(" ", "")
        if compact.isdigit():
            condition |= Q(organization__org_number=compact)
    return condition


def get_organization(
    *, actor: Actor, now: dt.datetime, organization_id: int, purpose: str | None = None
) -> dict[str, Any]:
    """One organisation as the role may see it for ``purpose``; audited as a read."""
    purpose = resolve_purpose(actor, purpose)
    fields = _fields(actor, purpose, ORGANIZATION)
    if "name" not in fields:
        raise NotFoundError("no such organisation")
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        raise NotFoundError("no such organisation")
    audit.record(
        actor=actor,
        now=now,
        action="read",
        subject_type="organization",
        subject_id=organization.pk,
        purpose=purpose,
        fields=fields,
    )
    sources = sorted(set(Provenance.objects.filter(organization=organization).values_list("source", flat=True)))
    # §6: a sole proprietorship (ENK) is its owner: its name and address are personal data.
    personal = names_a_person(policy.current(), organization.organisation_form)
    return {
        "purpose": purpose,
        **_organization_dict(organization, fields),
        "sources": sources,
        "sole_proprietorship": personal,
    }


def search_organizations(
    *,
    actor: Actor,
    now: dt.datetime,
    purpose: str | None = None,
    query: str = "",
    page: int = 1,
    page_size: int = 25,
) -> Page[dict[str, Any]]:
    """Organisations whose name or number matches ``query``."""
    purpose = resolve_purpose(actor, purpose)
    offset, limit = check_page(page, page_size)
    fields = _fields(actor, purpose, ORGANIZATION)
    if "name" not in fields:
        return Page(items=[], page=page, page_size=limit, has_next=False)
    organizations = Organization.objects.all()
    text = query.strip()
    if len(text) > 200:
        raise ValidationError("a search is at most 200 characters", field="q")
    if text:
        compact = text.replace(" ", "")
        condition = Q(name__icontains=text)
        if compact.isdigit():
            condition |= Q(org_number=compact)
        organizations = organizations.filter(condition)
    rows = list(organizations.order_by("name", "id")[offset : offset + limit + 1])
    shown = rows[:limit]
    audit.record_many(
        actor=actor,
        now=now,
        action="search",
        subject_type="organization",
        subject_ids=[o.pk for o in shown],
        purpose=purpose,
        fields=fields,
    )
    return Page(
        items=[{"purpose": purpose, **_organization_dict(o, fields)} for o in shown],
        page=page,
        page_size=limit,
        has_next=len(rows) > limit,
    )


def person_timeline(
    *, actor: Actor, now: dt.datetime, person_id: int, purpose: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The person's interactions, newest first, with the fields the role may see for the
    purpose (empty if the role sees no correspondence for it). Audited as one read."""
    purpose = resolve_purpose(actor, purpose)
    fields = _fields(actor, purpose, "people.Interaction")
    if not fields or not _visible_people(actor, purpose).filter(pk=person_id).exists():
        return []
    rows = list(
        Interaction.objects.filter(person_id=person_id).select_related("staff").order_by("-occurred_at", "-pk")[:limit]
    )
    audit.record(
        actor=actor,
        now=now,
        action="read",
        subject_type="person",
        subject_id=person_id,
        purpose=purpose,
        fields=sorted(f"interaction.{f}" for f in fields),
    )
    result = []
    for row in rows:
        item: dict[str, Any] = {"id": row.pk}
        for name in ("kind", "direction", "reached", "occurred_at", "subject", "summary"):
            if name in fields:
                item[name] = getattr(row, name)
        item["staff"] = row.staff.username if row.staff else ""
        result.append(item)
    return result


def person_choices(*, actor: Actor, now: dt.datetime, person_id: int, purpose: str | None = None) -> dict[str, Any]:
    """The person's subscriptions and customer relationships, as far as the role may see them
    (nothing for a person the gate does not show for the purpose)."""
    from tillit.consent.models import Subscription

    purpose = resolve_purpose(actor, purpose)
    categories = purpose_rules.visible_categories(policy.current(), actor.role, purpose)
    result: dict[str, Any] = {}
    if not _visible_people(actor, purpose).filter(pk=person_id).exists():
        return result
    if "choices" in categories:
        result["subscriptions"] = list(
            Subscription.objects.filter(person_id=person_id).values("newsletter", "subscribed_at", "unsubscribed_at")
        )
    if "customer_records" in categories:
        result["customer_relationships"] = [
            {**row, "end_reason": CustomerRelationship.EndReason(row["end_reason"]).label if row["end_reason"] else ""}
            for row in CustomerRelationship.objects.filter(person_id=person_id).values(
                "started_at", "ended_at", "end_reason"
            )
        ]
    return result


# --- the sensitive data guard's quarantine (§16) ---------------------------------------------

QUARANTINE_REVIEW_TOOL = "audit_log"


def may_review_quarantine(actor: Actor) -> bool:
    """Held text is for the privacy officer: the roles the policy gives the audit log (§13)."""
    return purpose_rules.may_use_tool(policy.current(), actor.role, QUARANTINE_REVIEW_TOOL)


def _check_may_review_quarantine(actor: Actor) -> None:
    if not may_review_quarantine(actor):
        raise PermissionDeniedError("only the privacy officer may review text held for sensitive data")


def _held_findings(findings: Any) -> list[dict[str, Any]]:
    return [
        {"field": f.get("field"), "kind": f.get("kind"), "category": f.get("category")}
        for f in (findings if isinstance(findings, list) else [])
        if isinstance(f, dict)
    ]


def quarantine_for(
    *,
    actor: Actor,
    now: dt.datetime,
    purpose: str | None = None,
    include_released: bool = False,
    page: int = 1,
    page_size: int = 25,
) -> Page[dict[str, Any]]:
    """Text the sensitive data guard held back (§16), newest first, for the privacy officer
    only: who and what it is about (ids), where it came from, the kinds and categories found.
    Never the text itself (that is ``open_quarantined_text``, audited). Released items are
    left out unless ``include_released``."""
    from tillit.people.models import QuarantinedText

    _check_may_review_quarantine(actor)
    purpose = resolve_purpose(actor, purpose)
    offset, limit = check_page(page, page_size)
    held = QuarantinedText.objects.select_related("staff")
    if not include_released:
        held = held.filter(released_at__isnull=True)
    rows = list(held.order_by("-created_at", "-pk")[offset : offset + limit + 1])
    shown = rows[:limit]
    audit.record_many(
        actor=actor,
        now=now,
        action="search",
        subject_type="quarantined_text",
        subject_ids=[row.pk for row in shown],
        purpose=purpose,
        fields=["findings", "source"],
    )
    return Page(
        items=[
            {
                "id": row.pk,
                "person_id": row.person_id,
                "interaction_id": row.interaction_id,
                "source": row.source,
                "findings": _held_findings(row.findings),
                "created_at": row.created_at,
                "staff": row.staff.username if row.staff else "",
                "released_at": row.released_at,
            }
            for row in shown
        ],
        page=page,
        page_size=limit,
        has_next=len(rows) > limit,
    )


def open_quarantined_text(
    *, actor: Actor, now: dt.datetime, quarantine_id: int, purpose: str | None = None
) -> dict[str, Any]:
    """One held text with its subject, text and the spans of what was found, for the privacy
    officer to decide on (§16); every opening is audited as a read of the text."""
    from tillit.people.models import QuarantinedText

    _check_may_review_quarantine(actor)
    purpose = resolve_purpose(actor, purpose)
    row = QuarantinedText.objects.filter(pk=quarantine_id).first()
    if row is None:
        raise NotFoundError("no such held text")
    audit.record(
        actor=actor,
        now=now,
        action="read",
        subject_type="quarantined_text",
        subject_id=row.pk,
        purpose=purpose,
        fields=["subject", "text"],
    )
    return {
        "id": row.pk,
        "person_id": row.person_id,
        "interaction_id": row.interaction_id,
        "source": row.source,
        "subject": row.subject,
        "text": row.text,
        "findings": row.findings,
        "created_at": row.created_at,
        "released_at": row.released_at,
    }
