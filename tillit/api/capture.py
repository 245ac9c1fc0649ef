"""The JSON API for orders and services (policy §4, §9): mounted at /api/ by tillit/api/urls.py.

For the roles that see customer records for a purpose resting on the contract (customer
support and sales in the policy). The first order or service starts the customer
relationship; cancelling the last active service ends it. Order lines are bookkeeping
records: kept under the legal hold even after the person is erased (detached from them).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from tillit.api.schemas import Error
from tillit.capture import services
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError
from tillit.people import services as people_services
from tillit.people.models import CustomerRelationship

router = Router(tags=["orders"])
ERRORS: dict[int, Any] = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 413: Error, 422: Error}


class _Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class OrderLineIn(_Strict):
    product: str = Field(max_length=1000)
    quantity: Decimal = Field(description="More than 0; at most 3 decimals.")
    unit_price: Decimal = Field(description="In the order's currency; at most 2 decimals.")


class OptOutIn(_Strict):
    wording: str = Field(
        max_length=5000, description="Exactly what the customer was shown: the free, simple way to refuse marketing."
    )
    language: str = Field(default="en", max_length=5, description="The language of the wording (en, sv, nb).")
    refused: bool = Field(default=False, description="The customer refused marketing then and there.")


class OrderIn(_Strict):
    number: str = Field(max_length=1000, description="The order number (unique).")
    currency: str = Field(max_length=10, description="ISO 4217, like NOK.")
    ordered_at: dt.datetime | None = None
    lines: list[OrderLineIn] = Field(max_length=500)
    opt_out: OptOutIn | None = Field(
        default=None,
        description=(
            "The opt-out offered when the customer's details were collected (Marketing Control Act §15(3)); "
            "without it the existing-customer exception does not hold for this order."
        ),
    )


class OrderOut(Schema):
    order_number: str
    lines: int
    hold_until: dt.datetime = Field(description="Until when the lines are kept as bookkeeping records.")
    started_customer_relationship: bool


class ServiceIn(_Strict):
    product: str = Field(max_length=1000)
    started_at: dt.datetime | None = None


class ServiceOut(Schema):
    id: int
    product: str
    started_at: dt.datetime
    cancelled_at: dt.datetime | None
    started_customer_relationship: bool = False
    ended_customer_relationship: bool = False


class CancelIn(_Strict):
    cancelled_at: dt.datetime | None = None


def _actor(request: HttpRequest) -> Actor:
    actor = request.auth  # type: ignore[attr-defined]
    assert isinstance(actor, Actor)
    return actor


@router.post("/people/{person_id}/orders", response={201: OrderOut, **ERRORS})
def record_order(request: HttpRequest, person_id: int, payload: OrderIn) -> Status[dict[str, Any]]:
    """Record an order with its lines. 409 if the order number is already recorded."""
    result = services.record_order(
        actor=_actor(request),
        now=timezone.now(),
        person_id=person_id,
        number=payload.number,
        currency=payload.currency,
        ordered_at=payload.ordered_at,
        lines=[line.model_dump() for line in payload.lines],
        opt_out=payload.opt_out.model_dump() if payload.opt_out else None,
    )
    return Status(
        201,
        {
            "order_number": result.order_number,
            "lines": result.lines,
            "hold_until": result.hold_until,
            "started_customer_relationship": result.started_customer_relationship,
        },
    )


@router.post("/people/{person_id}/services", response={201: ServiceOut, **ERRORS})
def start_service(request: HttpRequest, person_id: int, payload: ServiceIn) -> Status[dict[str, Any]]:
    """The customer starts using a service."""
    service, started = services.start_service(
        actor=_actor(request),
        now=timezone.now(),
        person_id=person_id,
        product=payload.product,
        started_at=payload.started_at,
    )
    return Status(201, {**_service(service), "started_customer_relationship": started})


@router.post("/services/{service_id}/cancel", response={200: ServiceOut, **ERRORS})
def cancel_service(request: HttpRequest, service_id: int, payload: CancelIn) -> dict[str, Any]:
    """The customer cancels a service; the last active one ends the customer relationship."""
    service, ended = services.cancel_service(
        actor=_actor(request), now=timezone.now(), service_id=service_id, cancelled_at=payload.cancelled_at
    )
    return {**_service(service), "ended_customer_relationship": ended}


def _service(service: Any) -> dict[str, Any]:
    return {
        "id": service.pk,
        "product": service.product,
        "started_at": service.started_at,
        "cancelled_at": service.cancelled_at,
    }


class EndRelationshipIn(_Strict):
    reason: str = Field(
        max_length=30,
        description="Why it ends: customer_asked, no_longer_buying, business_closed or other.",
    )
    ended_at: dt.datetime | None = None


class EndRelationshipOut(Schema):
    started_at: dt.datetime
    ended_at: dt.datetime
    reason: str
    retain_until: dt.datetime | None = Field(description="The person's deadline now (§9).")


@router.post("/people/{person_id}/customer-relationship/end", response={200: EndRelationshipOut, **ERRORS})
def end_customer_relationship(request: HttpRequest, person_id: int, payload: EndRelationshipIn) -> dict[str, Any]:
    """End the person's customer relationship, with a reason; from then the dialogue rule's
    two years run (§9). 409 if there is no active relationship."""
    if payload.reason not in CustomerRelationship.STAFF_END_REASONS:
        raise ValidationError(f"one of {', '.join(CustomerRelationship.STAFF_END_REASONS)}", field="reason")
    relationship = people_services.end_customer_relationship(
        actor=_actor(request),
        now=timezone.now(),
        person_id=person_id,
        ended_at=payload.ended_at,
        reason=payload.reason,
    )
    return {
        "started_at": relationship.started_at,
        "ended_at": relationship.ended_at,
        "reason": relationship.end_reason,
        "retain_until": relationship.person.retain_until,
    }
