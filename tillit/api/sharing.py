"""The JSON API for sharing (policy §11, §12; GDPR art. 19, 30): mounted at /api/ by
tillit/api/urls.py. Partners and dialogues, disclosing (the only path out: the JSON or CSV
comes back in the answer, or it goes to the partner's endpoint), the ledger per person
("who received my data"), the notices to recipients, the records of processing, and the
verifier's runs. Roles per the policy: dialogues and disclosures for the roles that work
for a dialogue's purpose; partners, processors, records and the verifier for the roles with
the ``partners`` and ``records_of_processing`` tools (the privacy officer)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from tillit.api.schemas import Error
from tillit.core.actors import Actor
from tillit.sharing import records, selectors, services, tasks

router = Router(tags=["sharing"])
ERRORS: dict[int, Any] = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 413: Error, 422: Error}


def _actor(request: HttpRequest) -> Actor:
    actor = request.auth  # type: ignore[attr-defined]
    assert isinstance(actor, Actor)
    return actor


class _Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class PartnerIn(_Strict):
    key: str = Field(max_length=60)
    name: str = Field(max_length=200)
    org_number: str = Field(default="", max_length=20)
    contact_email: str = Field(max_length=254, description="The partner's contact point.")
    endpoint_url: str = Field(default="", max_length=500, description="An https:// endpoint (optional).")
    agreement_reference: str = Field(max_length=200)
    agreement_dated: dt.date
    role: str = Field(
        default="independent_controller",
        max_length=30,
        description="independent_controller, joint_controller (its arrangement in the policy) or processor "
        "(its entry in the policy's processors).",
    )


class PartnerOut(Schema):
    id: int
    key: str
    name: str
    org_number: str
    contact_email: str
    endpoint_url: str
    agreement_reference: str
    agreement_dated: dt.date
    role: str
    created_at: dt.datetime
    ended_at: dt.datetime | None = None
    signing_secret: str | None = Field(default=None, description="Only for the roles that register partners.")


class DialogueIn(_Strict):
    partner_id: int
    kind: str = Field(max_length=20, description="A kind of dialogue of the policy: sales or customer.")
    title: str = Field(max_length=200, description="A title without personal data.")


class DialogueOut(Schema):
    id: int
    partner_id: int
    kind: str
    purpose: str | None
    title: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None = None
    is_open: bool
    members: int | None = None


class PeopleIn(_Strict):
    person_ids: list[int] = Field(max_length=10_000)


class AddedOut(Schema):
    added: int


class DiscloseIn(_Strict):
    fields: list[str] = Field(max_length=20, description="Categories: name, email, phone, organisation, form_answers.")
    channel: str = Field(description="json, csv or endpoint.")
    person_ids: list[int] | None = Field(default=None, max_length=10_000, description="Default: everyone in it.")
    event_id: int | None = None


class DisclosureOut(Schema):
    reference: str
    people: int
    categories: list[str]
    basis: str
    channel: str
    disclosed_at: dt.datetime


class LedgerRowOut(Schema):
    reference: str
    partner: dict[str, str]
    fields: list[str]
    basis: str
    purpose: str
    disclosed_at: dt.datetime
    staff: str
    staff_user_id: int | None = None
    channel: str
    delivered: bool | None = None


class NoticeOut(Schema):
    id: int
    reference: str
    kind: str
    recipient_kind: str
    recipient: str
    people: int
    created_at: dt.datetime
    status: str
    attempts: int
    last_attempt_at: dt.datetime | None = None
    next_attempt_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    last_error: str


class VerifyRunOut(Schema):
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime
    seconds: float
    total: int
    counts: dict[str, int]
    truncated: bool
    actor_label: str
    violations: list[dict[str, str]] = Field(default_factory=list)


@router.get("/partners", response={200: list[PartnerOut], **ERRORS}, tags=["sharing"])
def list_partners(request: HttpRequest) -> list[dict[str, Any]]:
    """The partners (§11), for the roles that work with partners."""
    return selectors.partners(actor=_actor(request), include_ended=True)


@router.post("/partners", response={201: PartnerOut, **ERRORS}, tags=["sharing"])
def register_partner(request: HttpRequest, payload: PartnerIn) -> Status[dict[str, Any]]:
    """Register a partner with its contact point, agreement and channel (the privacy officer)."""
    actor = _actor(request)
    created = services.register_partner(actor=actor, now=timezone.now(), values=payload.model_dump())
    return Status(201, selectors.partner(actor=actor, partner_id=created.pk))


@router.get("/dialogues", response={200: list[DialogueOut], **ERRORS}, tags=["sharing"])
def list_dialogues(request: HttpRequest, include_closed: bool = False) -> list[dict[str, Any]]:
    return selectors.dialogues(actor=_actor(request), include_closed=include_closed)


@router.post("/dialogues", response={201: DialogueOut, **ERRORS}, tags=["sharing"])
def open_dialogue(request: HttpRequest, payload: DialogueIn) -> Status[dict[str, Any]]:
    """Open a sales or customer dialogue with a partner."""
    actor, now = _actor(request), timezone.now()
    opened = services.open_dialogue(
        actor=actor, now=now, partner_id=payload.partner_id, kind=payload.kind, title=payload.title
    )
    return Status(201, selectors.dialogue_detail(actor=actor, now=now, dialogue_id=opened.pk))


@router.post("/dialogues/{dialogue_id}/close", response={200: DialogueOut, **ERRORS}, tags=["sharing"])
def close_dialogue(request: HttpRequest, dialogue_id: int) -> dict[str, Any]:
    actor, now = _actor(request), timezone.now()
    services.close_dialogue(actor=actor, now=now, dialogue_id=dialogue_id)
    return selectors.dialogue_detail(actor=actor, now=now, dialogue_id=dialogue_id)


@router.post("/dialogues/{dialogue_id}/people", response={200: AddedOut, **ERRORS}, tags=["sharing"])
def add_people(request: HttpRequest, dialogue_id: int, payload: PeopleIn) -> dict[str, int]:
    """Add people to an open dialogue (those already in it are skipped)."""
    added = services.add_to_dialogue(
        actor=_actor(request), now=timezone.now(), dialogue_id=dialogue_id, person_ids=payload.person_ids
    )
    return {"added": added}


@router.post(
    "/dialogues/{dialogue_id}/disclosures",
    response={200: dict[str, Any], 202: DisclosureOut, **ERRORS},
    tags=["sharing"],
)
def disclose(request: HttpRequest, dialogue_id: int, payload: DiscloseIn) -> Any:
    """Disclose people of an open dialogue to its partner (the only path out, §11). ``json``
    answers with the document the partner gets, ``csv`` with the CSV file; ``endpoint`` answers
    202 and sends it to the partner's HTTPS endpoint (retried until delivered). Refused, with
    nothing written or sent, for a closed dialogue, a field the policy does not allow, people
    not in the dialogue, or anyone who objected or is on the suppression list."""
    result = services.disclose(
        actor=_actor(request),
        now=timezone.now(),
        dialogue_id=dialogue_id,
        categories=payload.fields,
        channel=payload.channel,
        person_ids=payload.person_ids,
        event_id=payload.event_id,
        on_commit=lambda delivery: tasks.deliver_disclosure.enqueue(delivery.pk),
    )
    d = result.disclosure
    if result.content is None:
        return Status(
            202,
            {
                "reference": str(d.reference),
                "people": d.people,
                "categories": list(d.categories),
                "basis": d.basis,
                "channel": d.channel,
                "disclosed_at": d.disclosed_at,
            },
        )
    if payload.channel == "csv":
        response = HttpResponse(result.content, content_type=result.content_type)
        response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
        return response
    return json.loads(result.content)


@router.get("/people/{person_id}/disclosures", response={200: list[LedgerRowOut], **ERRORS}, tags=["sharing"])
def person_disclosures(request: HttpRequest, person_id: int) -> list[dict[str, Any]]:
    """Who received this person's data: every disclosure of them, newest first."""
    return selectors.person_ledger(actor=_actor(request), now=timezone.now(), person_id=person_id)


@router.get("/notices", response={200: list[NoticeOut], **ERRORS}, tags=["sharing"])
def list_notices(request: HttpRequest, open_only: bool = False) -> list[dict[str, Any]]:
    """Notices to partners and processors after corrections and erasures (GDPR art. 19)."""
    return selectors.notices(actor=_actor(request), open_only=open_only)


@router.get("/records-of-processing", response={200: dict[str, Any], **ERRORS}, tags=["sharing"])
def records_of_processing(request: HttpRequest, language: str = "en") -> dict[str, Any]:
    """The records of processing activities (GDPR art. 30(1)), from the policy and the registries."""
    selectors.check_records(_actor(request))
    record = records.records_of_processing(now=timezone.now(), language=language)
    return json.loads(json.dumps(record, default=str))  # type: ignore[no-any-return]


@router.get("/verify/runs", response={200: list[VerifyRunOut], **ERRORS}, tags=["sharing"])
def verify_runs(request: HttpRequest) -> list[dict[str, Any]]:
    """The runs of ``tillit verify``, newest first (counts per kind)."""
    return selectors.verify_runs(actor=_actor(request))


@router.get("/verify/runs/latest", response={200: VerifyRunOut, **ERRORS}, tags=["sharing"])
def latest_verify_run(request: HttpRequest) -> dict[str, Any]:
    """The latest run with its violations (kind and pseudonymous id)."""
    from tillit.core.errors import NotFoundError

    run = selectors.verify_run(actor=_actor(request))
    if run is None:
        raise NotFoundError("no run yet")
    return run
