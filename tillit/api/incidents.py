"""The JSON API of the breach register (GDPR art. 33-34): mounted at /api/ by
tillit/api/urls.py. Record an incident, read it with its 72-hour clock, attach the people a
question finds (read by a staff member in a period, in an export, disclosed to a partner),
record the notification to the supervisory authority, and send the notice to the people.
Only the roles the policy gives the ``breach_register`` tool (the privacy officer)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from tillit.api.schemas import Error
from tillit.core.actors import Actor
from tillit.incidents import selectors, services, tasks

router = Router(tags=["breaches"])
ID_MAX = 2**63 - 1  # the largest id a database column holds
ERRORS: dict[int, Any] = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 413: Error, 422: Error}


def _actor(request: HttpRequest) -> Actor:
    actor = request.auth  # type: ignore[attr-defined]
    assert isinstance(actor, Actor)
    return actor


class _Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class IncidentIn(_Strict):
    title: str = Field(max_length=200, description="A short title without personal data.")
    description: str = Field(max_length=5000, description="What happened (the breach, not the people).")
    aware_at: dt.datetime = Field(description="When we became aware: the 72-hour clock starts here.")
    occurred_at: dt.datetime | None = None
    categories: list[str] = Field(description="Data categories of the policy concerned.")
    approximate_people: int = Field(ge=0, le=2_000_000_000)
    consequences: str = Field(max_length=5000)
    measures: str = Field(max_length=5000)


class IncidentSummaryOut(Schema):
    id: int
    reference: str
    title: str
    aware_at: dt.datetime
    recorded_at: dt.datetime
    deadline_at: dt.datetime
    clock: Literal["running", "overdue", "notified", "notified_late", "not_required"]
    time_left_seconds: int
    late_by_seconds: int
    authority_notified_at: dt.datetime | None = None


class UpdateOut(Schema):
    text: str
    recorded_at: dt.datetime
    recorded_by: str


class NoRiskIn(_Strict):
    reason: str = Field(max_length=5000, description="Why the breach is unlikely to result in a risk to people.")


class UpdateIn(_Strict):
    text: str = Field(max_length=5000, description="What was found since (art. 33(4)); no personal data.")


class IncidentOut(IncidentSummaryOut):
    description: str
    occurred_at: dt.datetime | None = None
    categories: list[str]
    approximate_people: int
    consequences: str
    measures: str
    recorded_by: str
    authority_reference: str
    late_reason: str
    no_risk_reason: str
    no_risk_recorded_at: dt.datetime | None = None
    is_late: bool
    updates: list[UpdateOut]
    affected: int
    notices: dict[str, int]


class IncidentPage(Schema):
    items: list[IncidentSummaryOut]
    page: int
    page_size: int
    has_next: bool


class AffectedIn(_Strict):
    kind: Literal["staff", "export", "partner"] = Field(
        description="staff: everyone read or exported by staff_user_id in [since, until); export: everyone in "
        "export export_id (the sequence number of its first audit entry); partner: everyone disclosed to "
        "partner_id (in [since, until) when given)."
    )
    staff_user_id: int | None = Field(default=None, ge=1, le=ID_MAX)
    export_id: int | None = Field(default=None, ge=1, le=ID_MAX)
    partner_id: int | None = Field(default=None, ge=1, le=ID_MAX)
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class AffectedOut(Schema):
    added: int
    affected: int


class NotificationIn(_Strict):
    notified_at: dt.datetime
    reference: str = Field(max_length=100, description="The supervisory authority's reference.")
    late_reason: str = Field(default="", max_length=5000, description="Required after the 72 hours (art. 33(1)).")


class NoticesOut(Schema):
    requested: int


def _required(value: Any, field: str) -> Any:
    from tillit.core.errors import ValidationError

    if value is None:
        raise ValidationError("is required", field=field)
    return value


def _question(body: AffectedIn) -> selectors.Question:
    if body.kind == "staff":
        staff = _required(body.staff_user_id, "staff_user_id")
        return selectors.ReadByStaff(staff, _required(body.since, "since"), _required(body.until, "until"))
    if body.kind == "export":
        return selectors.InExport(_required(body.export_id, "export_id"))
    return selectors.DisclosedToPartner(_required(body.partner_id, "partner_id"), body.since, body.until)


@router.get("/incidents", response={200: IncidentPage, **ERRORS}, summary="The breach register")
def list_incidents(request: HttpRequest, page: int = 1) -> Any:
    return selectors.incidents(actor=_actor(request), now=timezone.now(), page=page)


@router.post("/incidents", response={201: IncidentOut, **ERRORS}, summary="Record a breach")
def create_incident(request: HttpRequest, body: IncidentIn) -> Any:
    actor, now = _actor(request), timezone.now()
    incident = services.record_incident(actor=actor, now=now, **body.dict())
    return Status(201, selectors.incident(actor=actor, now=now, incident_id=incident.pk))


@router.get("/incidents/{incident_id}", response={200: IncidentOut, **ERRORS}, summary="One breach and its clock")
def get_incident(request: HttpRequest, incident_id: int) -> Any:
    return selectors.incident(actor=_actor(request), now=timezone.now(), incident_id=incident_id)


@router.post(
    "/incidents/{incident_id}/affected", response={200: AffectedOut, **ERRORS}, summary="Attach the people affected"
)
def attach_affected(request: HttpRequest, incident_id: int, body: AffectedIn) -> Any:
    actor, now = _actor(request), timezone.now()
    added = services.attach_affected(actor=actor, now=now, incident_id=incident_id, question=_question(body))
    detail = selectors.incident(actor=actor, now=now, incident_id=incident_id)
    return {"added": added, "affected": detail["affected"]}


@router.post(
    "/incidents/{incident_id}/notification",
    response={200: IncidentOut, **ERRORS},
    summary="Record the notification to the supervisory authority",
)
def record_notification(request: HttpRequest, incident_id: int, body: NotificationIn) -> Any:
    actor, now = _actor(request), timezone.now()
    services.record_authority_notification(actor=actor, now=now, incident_id=incident_id, **body.dict())
    return selectors.incident(actor=actor, now=now, incident_id=incident_id)


@router.post(
    "/incidents/{incident_id}/no-risk",
    response={200: IncidentOut, **ERRORS},
    summary="Record that no notification is needed (unlikely to result in a risk, art. 33(1))",
)
def record_no_risk(request: HttpRequest, incident_id: int, body: NoRiskIn) -> Any:
    actor, now = _actor(request), timezone.now()
    services.record_no_risk(actor=actor, now=now, incident_id=incident_id, reason=body.reason)
    return selectors.incident(actor=actor, now=now, incident_id=incident_id)


@router.post(
    "/incidents/{incident_id}/updates",
    response={201: IncidentOut, **ERRORS},
    summary="Add what was found since (art. 33(4))",
)
def add_update(request: HttpRequest, incident_id: int, body: UpdateIn) -> Any:
    actor, now = _actor(request), timezone.now()
    services.add_update(actor=actor, now=now, incident_id=incident_id, text=body.text)
    return Status(201, selectors.incident(actor=actor, now=now, incident_id=incident_id))


@router.post(
    "/incidents/{incident_id}/notices",
    response={202: NoticesOut, **ERRORS},
    summary="Send the art. 34 notice to the people affected",
)
def send_notices(request: HttpRequest, incident_id: int) -> Any:
    count = services.request_notices(actor=_actor(request), now=timezone.now(), incident_id=incident_id)
    tasks.send_breach_notices.enqueue(incident_id)
    return Status(202, {"requested": count})
