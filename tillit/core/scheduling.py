"""Periodic jobs: enqueue each one once a day, at its hour, whoever's scheduler gets there first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from tillit.core.models import ScheduledRun

LOCAL = ZoneInfo("Europe/Oslo")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    hour: int
    enqueue: Callable[[], str]  # enqueues the task, returns its id


def enqueue_due(jobs: list[PeriodicJob], *, now: dt.datetime) -> list[str]:
    """Enqueue every job whose hour has come today and that nobody has enqueued today."""
    local = now.astimezone(LOCAL)
    started = []
    for job in jobs:
        if local.hour < job.hour:
            continue
        try:
            with transaction.atomic():
                run = ScheduledRun.objects.create(job=job.name, day=local.date(), enqueued_at=now)
                run.task_id = job.enqueue()
                run.save(update_fields=["task_id"])
        except IntegrityError:
            continue  # already enqueued today, here or on another host
        started.append(job.name)
    return started
