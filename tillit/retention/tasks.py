"""Background tasks of retention; they only call services."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from tillit.core.actors import Actor
from tillit.retention import services


@task()
def sweep_past_deadline() -> dict[str, int]:
    """The daily sweep (§9): erase everyone whose deadline has passed."""
    summary = services.sweep(actor=Actor.system("daily-sweep"), now=timezone.now())
    return {"erased": summary.erased, "batches": summary.batches}
