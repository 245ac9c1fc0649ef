"""Background tasks of sharing; they only call services (and enqueue their own retries).

- ``deliver_disclosure`` / ``deliver_notice``: one attempt each; on failure the next attempt is
  enqueued for the time the service scheduled (backoff), where the backend can defer tasks.
- ``notify_recipients``: the daily run, enqueued right after the retention sweep: it waits
  for a running sweep to finish (the sweep's lock), turns the day's corrections and erasures
  into notices, and retries whatever is due (also what a lost task left behind).
- ``tell_recipients_of_erasure``: an erasure on the person's own request or withdrawal: if a
  partner received their data, the notices run as soon as it commits, not with the daily run.
- ``run_verifier``: ``tillit verify`` in the background, for the privacy officer's "run now".
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import default_task_backend, task

from tillit.core.actors import Actor
from tillit.core.errors import ConflictError
from tillit.retention.models import ErasureReceipt
from tillit.retention.services import exclusive
from tillit.sharing import services, verifier
from tillit.sharing.models import Delivery, DisclosedPerson, RecipientNotice

SWEEP_WAIT = dt.timedelta(minutes=10)


def _ack_url(token: str) -> str:
    return f"{settings.TILLIT_PUBLIC_URL}/privacy/recipients/acknowledge/{token}"


def _later(run_after: dt.datetime | None) -> bool:
    return run_after is not None and default_task_backend.supports_defer


@task()
def deliver_disclosure(delivery_id: int) -> str:
    delivery = services.deliver_disclosure(now=timezone.now(), delivery_id=delivery_id)
    if delivery.status == Delivery.Status.PENDING and _later(delivery.next_attempt_at):
        deliver_disclosure.using(run_after=delivery.next_attempt_at).enqueue(delivery_id)
    return str(delivery.status)


@task()
def deliver_notice(notice_id: int) -> str:
    notice = services.deliver_notice(now=timezone.now(), notice_id=notice_id, ack_url_for=_ack_url)
    if notice.status != RecipientNotice.Status.ACKNOWLEDGED and _later(notice.next_attempt_at):
        deliver_notice.using(run_after=notice.next_attempt_at).enqueue(notice_id)
    return str(notice.status)


def notify_and_retry(*, now: dt.datetime) -> dict[str, int]:
    """Queue the art. 19 notices and make one attempt at everything due (used by the daily task
    and by ``tillit notices``)."""
    summary = services.queue_art19_notices(actor=Actor.system("art19-notices"), now=now)
    deliveries, notices = services.due(now=now)
    for delivery_id in deliveries:
        services.deliver_disclosure(now=now, delivery_id=delivery_id)
    for notice_id in notices:
        services.deliver_notice(now=now, notice_id=notice_id, ack_url_for=_ack_url)
    return {
        "erasures": summary.erasures,
        "corrections": summary.corrections,
        "processors": summary.processors,
        "deliveries": len(deliveries),
        "notices": len(notices),
    }


@task(priority=-10)
def notify_recipients() -> dict[str, int]:
    """The daily run after the sweep (see the module docstring)."""
    try:
        with exclusive("sweep"):
            return notify_and_retry(now=timezone.now())
    except ConflictError:
        if default_task_backend.supports_defer:
            notify_recipients.using(run_after=timezone.now() + SWEEP_WAIT).enqueue()
        return {"waiting_for_sweep": 1}


def tell_recipients_of_erasure(*, receipt_id: int | None = None, pseudonym: uuid.UUID | None = None) -> None:
    """The erasure with this receipt (or of the person with this pseudonymous id, the one its
    receipt keeps) was written in the current transaction, on the person's own request or
    withdrawal. If any partner received their data, tell it as soon as the transaction commits
    (art. 19, without undue delay) instead of with the next daily run; the daily run still
    covers processors, the sweep's erasures, and anything missed here."""
    if pseudonym is None and receipt_id is not None:
        pseudonym = ErasureReceipt.objects.filter(pk=receipt_id).values_list("pseudonym", flat=True).first()
    if pseudonym is not None and DisclosedPerson.objects.filter(pseudonym=pseudonym).exists():
        transaction.on_commit(notify_recipients.enqueue)


@task()
def run_verifier(actor_label: str = "system:verify") -> int:
    """Run the verifier and store the report; returns the run's id."""
    run = verifier.run_and_store(now=timezone.now(), actor_label=actor_label)
    return run.pk


@task(priority=-20)
def verify_after_sweep() -> int:
    """The daily run of the verifier, after the sweep (it waits for the sweep's lock), so the
    privacy officer's report has a run for every day."""
    try:
        with exclusive("sweep"):
            return verifier.run_and_store(now=timezone.now(), actor_label="system:daily-verify").pk
    except ConflictError:
        if default_task_backend.supports_defer:
            verify_after_sweep.using(run_after=timezone.now() + SWEEP_WAIT).enqueue()
        return 0
