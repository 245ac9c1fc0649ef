"""Background tasks of marketing; they only call services (and hold the SMTP connection)."""

from __future__ import annotations

import uuid

from django.core.mail import get_connection
from django.utils import timezone
from django_tasks import task

from tillit.core.actors import Actor
from tillit.marketing import services
from tillit.marketing.models import Campaign


@task()
def send_campaign(campaign_id: int, batch_size: int = 100) -> dict[str, int]:
    """Send a campaign's pending messages, batch after batch, until none is left for this
    worker. Several of these may run at once for one campaign (one per worker); a task run
    again after a worker died picks up where it stopped (``services.send_next_batch``)."""
    actor = Actor.system(f"campaign-send:{uuid.uuid4().hex[:8]}")
    item = Campaign.objects.select_related("newsletter").filter(pk=campaign_id).first()
    if item is None:
        return {"sent": 0, "skipped": 0, "failed": 0}
    totals = {"sent": 0, "skipped": 0, "failed": 0}
    connection = get_connection(fail_silently=False)
    connection.open()
    try:
        while True:
            result = services.send_next_batch(
                actor=actor,
                now=timezone.now(),
                campaign_id=campaign_id,
                mail_connection=connection,
                batch_size=batch_size,
            )
            totals["sent"] += result.sent
            totals["skipped"] += result.skipped
            totals["failed"] += result.failed
            if result.finished:
                return totals
    finally:
        connection.close()


@task()
def forget_unconfirmed_requests() -> dict[str, int]:
    """Daily: delete subscription requests whose confirmation link has expired."""
    deleted = services.forget_unconfirmed_requests(actor=Actor.system("subscription-requests"), now=timezone.now())
    return {"deleted": deleted}


def enqueue_sending(campaign_id: int, workers: int = 2) -> list[str]:
    """Enqueue one send task per worker that should share the campaign."""
    return [str(send_campaign.enqueue(campaign_id).id) for _ in range(max(1, workers))]
