"""Dialogues with a person (policy §7 "respond to requests and create and maintain a sales
dialogue", §11 "during an ongoing dialogue"): opening, closing and reading the one notion of
an ongoing dialogue, ``people.Dialogue``.

A request from the person opens one: inbound contact of a kind the policy's ``[dialogues]
requests`` names (a form, a chat, a call, an email) opens a dialogue of the kind ``opens``
unless one is open, from ``guard_and_record_interaction`` in the same transaction; a later
request is recorded on the open one. Staff whose role works for the purpose a kind serves may
open and close one. The eligibility rule (``tillit.policy.consent``) reads open dialogues: the
sales-dialogue call list holds only people in one, and after an objection or a suppression only
a request made since then may be answered. A partner's dialogue (``sharing``) is this one seen
from the partner's side: data goes to a partner only while the person's dialogue is open.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from tillit import policy
from tillit.audit import services as audit
from tillit.core.actors import Actor
from tillit.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from tillit.people.models import Dialogue, Interaction, Person
from tillit.policy import purposes as purpose_rules


def purpose_of(kind: str) -> str:
    """The purpose a kind of dialogue serves (ValidationError naming ``kind`` if unknown)."""
    purpose = policy.current().partners.dialogues.get(kind)
    if purpose is None:
        kinds = ", ".join(policy.current().partners.dialogues)
        raise ValidationError(f"unknown kind of dialogue (expected one of: {kinds})", field="kind")
    return purpose


def may_work_with(actor: Actor, kind: str) -> bool:
    """Whether the actor may open, close and see dialogues of ``kind``: a role that works for
    the purpose the kind serves (§10). System jobs always may."""
    purpose = policy.current().partners.dialogues.get(kind)
    if purpose is None:
        return False
    return actor.kind == "system" or purpose_rules.may_use_purpose(policy.current(), actor.role, purpose)


def _check(actor: Actor, kind: str) -> str:
    purpose = purpose_of(kind)
    if not may_work_with(actor, kind):
        raise PermissionDeniedError(f"your role does not work with {purpose!r}", field="kind")
    return purpose


def _locked_person(person_id: int) -> Person:
    person = Person.objects.select_for_update().filter(pk=person_id).only("pk").first()
    if person is None:
        raise NotFoundError("no such person")
    return person


@transaction.atomic
def open_dialogue(*, actor: Actor, now: dt.datetime, person_id: int, kind: str) -> tuple[Dialogue, bool]:
    """Staff open a dialogue of ``kind`` with the person. Returns the open dialogue and
    whether it was opened now (False: one was already open, nothing changed)."""
    purpose = _check(actor, kind)
    person = _locked_person(person_id)
    found = Dialogue.objects.filter(person=person, kind=kind, closed_at__isnull=True).first()
    if found is not None:
        return found, False
    dialogue = Dialogue.objects.create(person=person, kind=kind, opened_at=now, opened_by_id=actor.user_id)
    audit.record(
        actor=actor,
        now=now,
        action="dialogue_opened",
        subject_type="person",
        subject_id=person.pk,
        purpose=purpose,
        fields=[f"dialogue:{kind}"],
    )
    return dialogue, True


@transaction.atomic
def open_dialogues(*, actor: Actor, now: dt.datetime, person_ids: list[int], kind: str) -> int:
    """Open a dialogue of ``kind`` with each of ``person_ids`` who has none open (a partner
    joins it, ``sharing.services.add_to_dialogue``). Set-based; returns how many opened."""
    purpose = _check(actor, kind)
    have = set(
        Dialogue.objects.filter(person_id__in=person_ids, kind=kind, closed_at__isnull=True).values_list(
            "person_id", flat=True
        )
    )
    new = [p for p in dict.fromkeys(person_ids) if p not in have]
    Dialogue.objects.bulk_create(
        [Dialogue(person_id=p, kind=kind, opened_at=now, opened_by_id=actor.user_id) for p in new],
        ignore_conflicts=True,
    )
    audit.record_many(
        actor=actor,
        now=now,
        action="dialogue_opened",
        subject_type="person",
        subject_ids=new,
        purpose=purpose,
        fields=[f"dialogue:{kind}"],
    )
    return len(new)


@transaction.atomic
def close_dialogue(*, actor: Actor, now: dt.datetime, person_id: int, kind: str) -> bool:
    """Staff close the person's open dialogue of ``kind``: from now on they are on no list
    that needs one, and nothing more goes to a partner about them through it. Returns whether
    one was open."""
    purpose = _check(actor, kind)
    person = _locked_person(person_id)
    closed = Dialogue.objects.filter(person=person, kind=kind, closed_at__isnull=True).update(
        closed_at=now, closed_by_id=actor.user_id
    )
    if closed:
        audit.record(
            actor=actor,
            now=now,
            action="dialogue_closed",
            subject_type="person",
            subject_id=person.pk,
            purpose=purpose,
            fields=[f"dialogue:{kind}"],
        )
    return bool(closed)


def record_request(*, actor: Actor, now: dt.datetime, interaction: Interaction) -> Dialogue | None:
    """An interaction was recorded (the caller holds the person's lock). If it is a request
    (policy ``[dialogues] requests``, inbound), open a dialogue of the kind ``opens``, or note
    the request on the open one. Returns the dialogue, or None if it is not a request."""
    rules = policy.current().dialogues
    if interaction.direction != Interaction.Direction.INBOUND or interaction.kind not in rules.requests:
        return None
    found = Dialogue.objects.filter(person_id=interaction.person_id, kind=rules.opens, closed_at__isnull=True).first()
    if found is not None:
        latest = (
            Interaction.objects.filter(pk=found.request_id).values_list("occurred_at", flat=True).first()
            if found.request_id is not None
            else None
        )
        if latest is None or interaction.occurred_at > latest:
            found.request = interaction
            found.save(update_fields=["request"])
        return found
    dialogue = Dialogue.objects.create(
        person_id=interaction.person_id, kind=rules.opens, opened_at=interaction.occurred_at, request=interaction
    )
    audit.record(
        actor=actor,
        now=now,
        action="dialogue_opened",
        subject_type="person",
        subject_id=interaction.person_id,
        purpose=purpose_of(rules.opens),
        fields=[f"dialogue:{rules.opens}", f"request:{interaction.kind}"],
    )
    return dialogue


def person_dialogues(*, actor: Actor, person_id: int) -> list[dict[str, Any]]:
    """The kinds of dialogue the actor works with, each with the person's open one (or
    None): when it opened, whether by a request of theirs (and the latest request's time) or by
    staff. No personal data beyond these facts; the caller has passed the read gate."""
    current = policy.current()
    rows = {
        d["kind"]: d
        for d in Dialogue.objects.filter(person_id=person_id, closed_at__isnull=True).values(
            "kind", "opened_at", "opened_by_id", "request__kind", "request__occurred_at"
        )
    }
    result = []
    for kind, purpose in current.partners.dialogues.items():
        if not may_work_with(actor, kind):
            continue
        row = rows.get(kind)
        result.append(
            {
                "kind": kind,
                "purpose": purpose,
                "open": row is not None,
                "opened_at": row["opened_at"] if row else None,
                "by_request": bool(row and row["request__kind"]),
                "request_kind": row["request__kind"] if row else None,
                "requested_at": row["request__occurred_at"] if row else None,
            }
        )
    return result


def in_open_dialogue(person_ids: list[int], kind: str) -> set[int]:
    """Which of ``person_ids`` have an open dialogue of ``kind`` (for sharing's partner rule)."""
    return set(
        Dialogue.objects.filter(person_id__in=person_ids, kind=kind, closed_at__isnull=True).values_list(
            "person_id", flat=True
        )
    )
