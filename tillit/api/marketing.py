"""The JSON API of marketing (policy §8): bounce and complaint notices from the mail system,
and a campaign's progress. Mounted at /api/ by tillit/api/urls.py."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status

from tillit.api.schemas import Error
from tillit.core.actors import Actor
from tillit.marketing import selectors, services

router = Router(tags=["marketing"])
ERRORS: dict[int, Any] = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 413: Error, 422: Error}


class DeliveryNoticeOut(Schema):
    kind: str
    status: str
    suppressed: bool
    campaign_id: int | None


class ProgressOut(Schema):
    status: str
    total: int
    sent: int
    pending: int
    skipped: int
    failed: int
    bounced: int


def _actor(request: HttpRequest) -> Actor:
    actor = request.auth  # type: ignore[attr-defined]
    assert isinstance(actor, Actor)
    return actor


@router.post(
    "/marketing/delivery-notices",
    response={201: DeliveryNoticeOut, **ERRORS},
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A bounce (RFC 3464 delivery status notification) or a complaint (RFC 5965 feedback "
            "report), as the raw message (RFC 822).",
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def record_delivery_notice(request: HttpRequest) -> Status[dict[str, Any]]:
    """Take a bounce or a complaint (``Content-Type: message/rfc822``) and stop sending to the
    address: a permanent failure or a complaint puts it on the suppression list. Anything that
    is neither is 422 with the reason, and nothing is stored."""
    result = services.record_delivery_notice(actor=_actor(request), now=timezone.now(), raw=request.body)
    return Status(
        201,
        {
            "kind": result.kind,
            "status": result.status,
            "suppressed": result.suppressed,
            "campaign_id": result.campaign_id,
        },
    )


@router.get("/marketing/campaigns/{campaign_id}/progress", response={200: ProgressOut, **ERRORS})
def campaign_progress(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    """How far the sending of a campaign has come (counts only, no personal data)."""
    progress = selectors.progress(actor=_actor(request), campaign_id=campaign_id)
    return {"status": progress.status, "total": progress.total, **progress.counts}
