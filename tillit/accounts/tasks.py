"""Background tasks of accounts; they only call services."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from tillit.accounts import services
from tillit.core.actors import Actor


@task()
def remind_mailbox_reviews() -> dict[str, int]:
    """Daily: remind staff whose yearly mailbox review is due soon (§16)."""
    sent = services.remind_mailbox_reviews(actor=Actor.system("mailbox-reminders"), now=timezone.now())
    return {"sent": sent}
