"""The JSON API of a person's dialogues with us (policy §7, §11): mounted at /api/ by
tillit/api/urls.py. Staff (an API client with a role that works for the purpose a kind of
dialogue serves) list, open and close them; the person must pass the read gate for it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from tillit.api.schemas import Error
from tillit.core.actors import Actor
from tillit.people import dialogues
from tillit.people import selectors as people_selectors

router = Router(tags=["dialogues"])
ERRORS: dict[int, Any] = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 422: Error}


class DialogueIn(Schema):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=20, description="A kind of dialogue of the policy: sales or customer.")


class PersonDialogueOut(Schema):
    kind: str
    purpose: str
    open: bool
    opened_at: dt.datetime | None
    by_request: bool = Field(description="Opened by a request from the person (else by staff).")
    request_kind: str | None
    requested_at: dt.datetime | None = Field(description="When the person's latest request in it came.")


def _actor(request: HttpRequest) -> Actor:
    actor = request.auth  # type: ignore[attr-defined]
    assert isinstance(actor, Actor)
    return actor


def _one(actor: Actor, person_id: int, kind: str) -> dict[str, Any]:
    return next(d for d in dialogues.person_dialogues(actor=actor, person_id=person_id) if d["kind"] == kind)


@router.get("/people/{person_id}/dialogues", response={200: list[PersonDialogueOut], **ERRORS})
def list_dialogues(request: HttpRequest, person_id: int) -> list[dict[str, Any]]:
    """The person's dialogues with us, one per kind the role works with (open or not)."""
    actor = _actor(request)
    people_selectors.get_person(actor=actor, now=timezone.now(), person_id=person_id)
    return dialogues.person_dialogues(actor=actor, person_id=person_id)


@router.post("/people/{person_id}/dialogues", response={200: PersonDialogueOut, 201: PersonDialogueOut, **ERRORS})
def open_dialogue(request: HttpRequest, person_id: int, payload: DialogueIn) -> Status[dict[str, Any]]:
    """Open a dialogue with the person: 201, or 200 if one of this kind was already open."""
    actor, now = _actor(request), timezone.now()
    purpose = dialogues.purpose_of(payload.kind)
    people_selectors.get_person(actor=actor, now=now, person_id=person_id, purpose=purpose)
    _, opened = dialogues.open_dialogue(actor=actor, now=now, person_id=person_id, kind=payload.kind)
    return Status(201 if opened else 200, _one(actor, person_id, payload.kind))


@router.post("/people/{person_id}/dialogues/{kind}/close", response={200: PersonDialogueOut, **ERRORS})
def close_dialogue(request: HttpRequest, person_id: int, kind: str) -> dict[str, Any]:
    """Close the person's open dialogue of ``kind`` (a no-op if none is open)."""
    actor, now = _actor(request), timezone.now()
    purpose = dialogues.purpose_of(kind)
    people_selectors.get_person(actor=actor, now=now, person_id=person_id, purpose=purpose)
    dialogues.close_dialogue(actor=actor, now=now, person_id=person_id, kind=kind)
    return _one(actor, person_id, kind)
