"""Reads for sharing: partners, dialogues and their people, the facts the disclosure rule
needs (set-based, for a thousand people at once), the disclosure ledger ("who received my
data"), deliveries and the notices owed after corrections and erasures (GDPR art. 19)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Q

from tillit import policy
from tillit.audit import services as audit
from tillit.capture.models import FormSubmission
from tillit.consent import selectors as consent_selectors
from tillit.consent.models import ConsentEvent, SuppressionEntry
from tillit.consent.services import OBJECTION_ONLY_PURPOSES
from tillit.core.actors import Actor
from tillit.core.errors import NotFoundError, PermissionDeniedError
from tillit.core.identifiers import identifier_digests
from tillit.core.pagination import Page, check_page
from tillit.core.words import PARTNER_ROLE_WORDS, transfer_words
from tillit.people import dialogues as people_dialogues
from tillit.people import selectors as people_selectors
from tillit.people.models import Person
from tillit.people.restrictions import restricted_ids
from tillit.policy import disclosure as rule
from tillit.policy import purposes as purpose_rules
from tillit.sharing.models import (
    Delivery,
    Dialogue,
    DialogueMember,
    DisclosedPerson,
    Disclosure,
    Event,
    Partner,
    ProcessorChannel,
    RecipientNotice,
    VerifyRun,
)

PARTNERS_TOOL = "partners"
RECORDS_TOOL = "records_of_processing"


# --- who may do what (§10) ------------------------------------------------------------------


def may_manage_partners(actor: Actor) -> bool:
    """Registering partners and processors' channels: the roles the policy gives ``partners``."""
    return purpose_rules.may_use_tool(policy.current(), actor.role, PARTNERS_TOOL)


def may_see_records(actor: Actor) -> bool:
    """The records of processing and the verifier's report: the ``records_of_processing`` tool."""
    return purpose_rules.may_use_tool(policy.current(), actor.role, RECORDS_TOOL)


def check_records(actor: Actor) -> None:
    if not may_see_records(actor):
        raise PermissionDeniedError("your role may not see the records of processing")


def dialogue_kinds_for(actor: Actor) -> list[str]:
    """The kinds of dialogue the actor may take part in: those whose purpose the role may use."""
    current = policy.current()
    return [
        kind
        for kind, purpose in current.partners.dialogues.items()
        if purpose_rules.may_use_purpose(current, actor.role, purpose)
    ]


def may_work_with_partners(actor: Actor) -> bool:
    return bool(dialogue_kinds_for(actor)) or may_manage_partners(actor)


def check_partner_access(actor: Actor) -> None:
    if not may_work_with_partners(actor):
        raise PermissionDeniedError("your role does not work with partners")


def check_dialogue_access(actor: Actor, dialogue: Dialogue) -> str:
    """The purpose the dialogue serves, if the actor's role may use it (§10)."""
    purpose = rule.dialogue_purpose(policy.current(), dialogue.kind)
    if purpose is None or not purpose_rules.may_use_purpose(policy.current(), actor.role, purpose):
        raise NotFoundError("no such dialogue")
    return purpose


# --- partners and dialogues -------------------------------------------------------------------


def partners(*, actor: Actor, include_ended: bool = False) -> list[dict[str, Any]]:
    check_partner_access(actor)
    rows = Partner.objects.annotate(
        open_dialogues=Count("dialogues", filter=Q(dialogues__closed_at__isnull=True)),
        disclosures_made=Count("disclosures", distinct=True),
    ).order_by("name", "pk")
    if not include_ended:
        rows = rows.filter(ended_at__isnull=True)
    manager = may_manage_partners(actor)
    return [_partner_dict(p, with_secret=manager) for p in rows]


def _partner_dict(p: Partner, *, with_secret: bool = False) -> dict[str, Any]:
    data = {
        "id": p.pk,
        "key": p.key,
        "name": p.name,
        "org_number": p.org_number,
        "contact_email": p.contact_email,
        "endpoint_url": p.endpoint_url,
        "agreement_reference": p.agreement_reference,
        "agreement_dated": p.agreement_dated,
        "role": p.role,
        "role_words": str(PARTNER_ROLE_WORDS.get(p.role, p.role)),
        "created_at": p.created_at,
        "ended_at": p.ended_at,
        "open_dialogues": getattr(p, "open_dialogues", None),
        "disclosures": getattr(p, "disclosures_made", None),
    }
    if with_secret:
        data["signing_secret"] = p.signing_secret
    return data


def partner(*, actor: Actor, partner_id: int) -> dict[str, Any]:
    check_partner_access(actor)
    found = Partner.objects.filter(pk=partner_id).first()
    if found is None:
        raise NotFoundError("no such partner")
    data = _partner_dict(found, with_secret=may_manage_partners(actor))
    kinds = dialogue_kinds_for(actor)
    data["dialogues"] = [
        _dialogue_dict(d)
        for d in Dialogue.objects.filter(partner=found, kind__in=kinds)
        .annotate(member_count=Count("members", filter=Q(members__removed_at__isnull=True)))
        .order_by("-opened_at", "-pk")
    ]
    return data


def _dialogue_dict(d: Dialogue) -> dict[str, Any]:
    purpose = rule.dialogue_purpose(policy.current(), d.kind)
    return {
        "id": d.pk,
        "partner_id": d.partner_id,
        "kind": d.kind,
        "purpose": purpose,
        "title": d.title,
        "opened_at": d.opened_at,
        "closed_at": d.closed_at,
        "is_open": d.closed_at is None,
        "members": getattr(d, "member_count", None),
    }


def dialogues(*, actor: Actor, include_closed: bool = False) -> list[dict[str, Any]]:
    kinds = dialogue_kinds_for(actor)
    if not kinds:
        raise PermissionDeniedError("your role does not take part in dialogues with partners")
    rows = (
        Dialogue.objects.filter(kind__in=kinds)
        .select_related("partner")
        .annotate(member_count=Count("members", filter=Q(members__removed_at__isnull=True)))
        .order_by("-opened_at", "-pk")
    )
    if not include_closed:
        rows = rows.filter(closed_at__isnull=True)
    return [{**_dialogue_dict(d), "partner": d.partner.name} for d in rows[:500]]


def dialogue_detail(*, actor: Actor, now: dt.datetime, dialogue_id: int) -> dict[str, Any]:
    """A dialogue with its people as the read gate shows them for the dialogue's purpose
    (``people.selectors.people_by_ids``: only people told about the purpose, §14, and not
    stopped by an objection; only the fields the role may see; each person shown audited). A
    member the gate does not show is left out, as if missing."""
    found = Dialogue.objects.select_related("partner").filter(pk=dialogue_id).first()
    if found is None:
        raise NotFoundError("no such dialogue")
    purpose = check_dialogue_access(actor, found)
    members = list(
        DialogueMember.objects.filter(dialogue=found, removed_at__isnull=True)
        .order_by("pk")
        .values_list("person_id", "added_at")[:2000]
    )
    seen = people_selectors.people_by_ids(
        actor=actor, now=now, purpose=purpose, person_ids=[person_id for person_id, _ in members]
    )
    data = {**_dialogue_dict(found), "partner": _partner_dict(found.partner)}
    people = [
        {
            "id": person_id,
            "added_at": added_at,
            **{f: seen[person_id][f] for f in ("name", "email", "phone") if f in seen[person_id]},
        }
        for person_id, added_at in members
        if person_id in seen
    ]
    data["people"] = sorted(people, key=lambda p: (p.get("name") or "", p["id"]))
    data["events"] = list(Event.objects.filter(dialogue=found).values("id", "name", "starts_at"))
    data["disclosures"] = [
        _disclosure_dict(d) for d in Disclosure.objects.filter(dialogue=found).order_by("-disclosed_at", "-pk")[:100]
    ]
    return data


def _disclosure_dict(d: Disclosure) -> dict[str, Any]:
    delivery = Delivery.objects.filter(disclosure=d).first() if d.channel == Disclosure.Channel.ENDPOINT else None
    return {
        "id": d.pk,
        "reference": str(d.reference),
        "partner_id": d.partner_id,
        "dialogue_id": d.dialogue_id,
        "event_id": d.event_id,
        "basis": d.basis,
        "purpose": d.purpose,
        "channel": d.channel,
        "categories": list(d.categories),
        "people": d.people,
        "disclosed_at": d.disclosed_at,
        "staff": d.actor_label,
        "delivery": _delivery_dict(delivery) if delivery else None,
    }


def _delivery_dict(delivery: Delivery) -> dict[str, Any]:
    return {
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_attempt_at": delivery.last_attempt_at,
        "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at,
        "last_error": delivery.last_error,
    }


# --- the facts of the disclosure rule, set-based ------------------------------------------------


@dataclass(frozen=True)
class PersonRow:
    id: int
    pseudonym: uuid.UUID
    facts: rule.DisclosureFacts
    # A current member of the partner's dialogue (``facts.in_open_dialogue`` also needs the
    # dialogue, and the person's own dialogue with us, ``people.Dialogue``, to be open).
    member: bool = True


def disclosure_facts(
    *, dialogue: Dialogue, purpose: str, person_ids: Sequence[int], event: Event | None
) -> dict[int, PersonRow]:
    """The facts of ``tillit.policy.disclosure.may_disclose`` for every person in ``person_ids``
    (those that exist), from a fixed handful of queries whatever their number."""
    ids = list(dict.fromkeys(person_ids))
    people = list(
        Person.objects.filter(pk__in=ids).values_list("pk", "pseudonym", "email", "phone", "notice_version_id")
    )
    members = set(
        DialogueMember.objects.filter(dialogue=dialogue, removed_at__isnull=True, person_id__in=ids).values_list(
            "person_id", flat=True
        )
    )
    # The partner's dialogue is the person's dialogue with us seen from the partner's side:
    # it holds for a person only while theirs of the same kind is open (people.dialogues).
    in_own_dialogue = people_dialogues.in_open_dialogue(ids, dialogue.kind)
    informed_versions = set(consent_selectors.versions_with_purpose(purpose))
    is_legal_obligation = set(policy.current().purposes[purpose].bases.values()) == {"legal_obligation"}
    objections = _objections(ids, purpose)
    key = settings.TILLIT_IDENTIFIER_KEY
    digests = {
        pk: [d for _, d in identifier_digests(email=email, phone=phone, key=key)] for pk, _, email, phone, _ in people
    }
    suppressed_digests = set(
        SuppressionEntry.objects.filter(digest__in=[d for ds in digests.values() for d in ds]).values_list(
            "digest", flat=True
        )
    )
    answered: set[int] = set()
    event_with_partner = event is not None and event.partner_id == dialogue.partner_id
    if event_with_partner and event is not None and event.form_id is not None:
        answered = set(
            FormSubmission.objects.filter(form_id=event.form_id, person_id__in=ids).values_list("person_id", flat=True)
        )
    partner_active = Partner.objects.filter(pk=dialogue.partner_id, ended_at__isnull=True).exists()
    restricted = restricted_ids(ids)
    result = {}
    for pk, pseudonym, _email, _phone, version in people:
        objected = objections.get(pk, set())
        result[pk] = PersonRow(
            pk,
            pseudonym,
            rule.DisclosureFacts(
                partner_active=partner_active,
                in_open_dialogue=dialogue.closed_at is None and pk in members and pk in in_own_dialogue,
                informed=is_legal_obligation or version in informed_versions,
                objected_to_sharing=bool(objected & set(OBJECTION_ONLY_PURPOSES)),
                objected_to_marketing="direct_marketing" in objected,
                objected_to_purpose=purpose in objected,
                suppressed=any(d in suppressed_digests for d in digests[pk]),
                event_with_partner=event_with_partner,
                answered_event_form=pk in answered,
                restricted=pk in restricted,
            ),
            member=pk in members,
        )
    return result


def _objections(person_ids: list[int], purpose: str) -> dict[int, set[str]]:
    """Person -> the purposes (of sharing, direct marketing, the dialogue's) whose latest
    ledger entry on some channel is an objection."""
    purposes = {*OBJECTION_ONLY_PURPOSES, "direct_marketing", purpose}
    latest: dict[tuple[int, str, str], str] = {}
    for pid, p, channel, action in (
        ConsentEvent.objects.filter(person_id__in=person_ids, purpose__in=purposes)
        .order_by("occurred_at", "pk")
        .values_list("person_id", "purpose", "channel", "action")
    ):
        latest[(pid, p, channel)] = action
    result: dict[int, set[str]] = {}
    for (pid, p, _channel), action in latest.items():
        if action == "objected":
            result.setdefault(pid, set()).add(p)
    return result


# --- the ledger: who received my data -------------------------------------------------------------


def disclosures_for_person(
    *, pseudonym: uuid.UUID | str | None = None, person_id: int | None = None
) -> list[dict[str, Any]]:
    """Every disclosure of one person, newest first (GDPR art. 15(1)(c): the recipients): the
    partner, the categories that went, the basis and purpose, when, by which staff member, how,
    and whether it was delivered. By pseudonym (works after erasure, for receipts) or by id.
    No access check here: the caller (the access answer, the person page) has done it."""
    if pseudonym is None:
        if person_id is None:
            raise ValueError("give a pseudonym or a person id")
        pseudonym = Person.objects.filter(pk=person_id).values_list("pseudonym", flat=True).first()
        if pseudonym is None:
            return []
    try:
        value = pseudonym if isinstance(pseudonym, uuid.UUID) else uuid.UUID(str(pseudonym))
    except ValueError:
        return []
    rows = (
        DisclosedPerson.objects.filter(pseudonym=value)
        .select_related("disclosure__partner", "disclosure__delivery")
        .order_by("-disclosure__disclosed_at", "-pk")
    )
    result = []
    for row in rows:
        d = row.disclosure
        delivery = getattr(d, "delivery", None) if d.channel == Disclosure.Channel.ENDPOINT else None
        result.append(
            {
                "reference": str(d.reference),
                "partner": {
                    "key": d.partner.key,
                    "name": d.partner.name,
                    "org_number": d.partner.org_number,
                    "role": d.partner.role,
                },
                "fields": list(row.categories),
                "basis": d.basis,
                "purpose": d.purpose,
                "disclosed_at": d.disclosed_at,
                "staff": d.actor_label,
                "staff_user_id": d.staff_user_id,
                "channel": d.channel,
                "delivered": None if delivery is None else delivery.status == Delivery.Status.DELIVERED,
            }
        )
    return result


def person_ledger(*, actor: Actor, now: dt.datetime, person_id: int) -> list[dict[str, Any]]:
    """ "Who received my data", on the person page: for a role that may read the person for
    some purpose (§10), as the read gate decides. Audited as a read of the person's
    disclosures."""
    if not purpose_rules.purposes_for_role(policy.current(), actor.role):
        raise PermissionDeniedError("your role may not read personal data")
    # Through the gate: a person the role may not read for any purpose looks missing.
    own = people_selectors.readable_purposes(actor=actor, person_id=person_id)
    if not own:
        raise NotFoundError(people_selectors.NOT_FOUND_MESSAGE)
    rows = disclosures_for_person(person_id=person_id)
    audit.record(
        actor=actor,
        now=now,
        action="read",
        subject_type="person",
        subject_id=person_id,
        purpose=own[0],
        fields=["disclosures"],
    )
    return rows


def ledger(*, actor: Actor, partner_id: int | None = None, page: int = 1, page_size: int = 50) -> Page[dict[str, Any]]:
    """The disclosure ledger, newest first (no personal data: counts and categories)."""
    if not (may_manage_partners(actor) or may_see_records(actor) or dialogue_kinds_for(actor)):
        raise PermissionDeniedError("your role may not see the disclosure ledger")
    offset, limit = check_page(page, page_size)
    rows = Disclosure.objects.select_related("partner").order_by("-disclosed_at", "-pk")
    if partner_id is not None:
        rows = rows.filter(partner_id=partner_id)
    found = list(rows[offset : offset + limit + 1])
    return Page(
        items=[{**_disclosure_dict(d), "partner": d.partner.name} for d in found[:limit]],
        page=page,
        page_size=limit,
        has_next=len(found) > limit,
    )


# --- notices and processors ------------------------------------------------------------------


def notices(*, actor: Actor, open_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """Art. 19 notices to partners and processors, newest first, with their delivery state."""
    if not (may_manage_partners(actor) or may_see_records(actor)):
        raise PermissionDeniedError("your role may not see the notices to recipients")
    rows = RecipientNotice.objects.select_related("partner").order_by("-created_at", "-pk")
    if open_only:
        rows = rows.exclude(status=RecipientNotice.Status.ACKNOWLEDGED)
    return [notice_dict(n) for n in rows[:limit]]


def notice_dict(n: RecipientNotice) -> dict[str, Any]:
    current = policy.current()
    if n.partner_id is not None and n.partner is not None:
        recipient = n.partner.name
    else:
        processor = current.processors.get(n.processor_key)
        recipient = processor.name if processor else n.processor_key
    return {
        "id": n.pk,
        "reference": str(n.reference),
        "kind": n.kind,
        "recipient_kind": "partner" if n.partner_id else "processor",
        "recipient": recipient,
        "people": n.people,
        "created_at": n.created_at,
        "status": n.status,
        "attempts": n.attempts,
        "last_attempt_at": n.last_attempt_at,
        "next_attempt_at": n.next_attempt_at,
        "acknowledged_at": n.acknowledged_at,
        "last_error": n.last_error,
    }


def processors(*, actor: Actor) -> list[dict[str, Any]]:
    """The processors of the policy (§12) with the channel entered for each."""
    if not (may_manage_partners(actor) or may_see_records(actor)):
        raise PermissionDeniedError("your role may not see the processors")
    channels = {c.processor_key: c for c in ProcessorChannel.objects.all()}
    result = []
    for key, p in policy.current().processors.items():
        channel = channels.get(key)
        result.append(
            {
                "key": key,
                "name": p.name,
                "role": p.role,
                "country": p.country,
                "agreement_dated": p.agreement_dated,
                "agreement_reference": p.agreement_reference,
                "location": p.location,
                "sub_processors": [
                    {"name": s.name, "service": s.service, "country": s.country, "transfer": transfer_words(s.transfer)}
                    for s in p.sub_processors
                ],
                "contact_email": channel.contact_email if channel else "",
                "endpoint_url": channel.endpoint_url if channel else "",
                "signing_secret": channel.signing_secret if channel and may_manage_partners(actor) else "",
            }
        )
    return result


# --- events ------------------------------------------------------------------------------------


def events(*, actor: Actor) -> list[dict[str, Any]]:
    check_partner_access(actor)
    return [
        {
            "id": e.pk,
            "name": e.name,
            "partner": e.partner.name if e.partner else "",
            "partner_id": e.partner_id,
            "starts_at": e.starts_at,
            "form_id": e.form_id,
            "dialogue_id": e.dialogue_id,
            "attendees": e.attendee_count,
        }
        for e in Event.objects.select_related("partner")
        .annotate(attendee_count=Count("attendances"))
        .order_by("-starts_at", "-pk")[:500]
    ]


# --- the verifier's runs -------------------------------------------------------------------------


def verify_runs(*, actor: Actor, limit: int = 50) -> list[dict[str, Any]]:
    check_records(actor)
    return [
        dict(row)
        for row in VerifyRun.objects.order_by("-started_at", "-pk").values(
            "id", "started_at", "finished_at", "seconds", "total", "counts", "truncated", "actor_label"
        )[:limit]
    ]


def verify_run(*, actor: Actor, run_id: int | None = None) -> dict[str, Any] | None:
    """One run with its violations (the latest when no id is given)."""
    check_records(actor)
    runs = VerifyRun.objects.order_by("-started_at", "-pk")
    run = runs.filter(pk=run_id).first() if run_id is not None else runs.first()
    if run is None:
        if run_id is not None:
            raise NotFoundError("no such run")
        return None
    return {
        "id": run.pk,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "seconds": run.seconds,
        "total": run.total,
        "counts": run.counts,
        "violations": run.violations,
        "truncated": run.truncated,
        "actor_label": run.actor_label,
    }


def people_ids_in(values: Iterable[Any]) -> list[int]:
    """Person ids from form or API input (ints, or digit strings); anything else is dropped."""
    ids = []
    for value in values:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            continue
    return ids
