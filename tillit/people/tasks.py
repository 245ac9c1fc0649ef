"""Background tasks of people; they only call services."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from tillit.core.actors import Actor
from tillit.people import services


@task()
def end_lapsed_customer_relationships() -> dict[str, int]:
    """Daily: customer relationships with no active service and no recent order end (§9)."""
    ended = services.end_lapsed_customer_relationships(actor=Actor.system("daily-customers"), now=timezone.now())
    return {"ended": ended}
