"""``tillit scheduler``: the clock. Enqueues the daily jobs (the retention sweep) once a day;
``tillit db_worker`` runs them. Safe to run on several hosts at once."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.utils import timezone

from tillit.cli.base import TillitCommand
from tillit.core.scheduling import PeriodicJob, enqueue_due
from tillit.retention.tasks import sweep_past_deadline
from tillit.rights.tasks import expire_unverified_requests


def jobs() -> list[PeriodicJob]:
    return [
        PeriodicJob(
            name="retention.sweep",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(sweep_past_deadline.enqueue().id),
        ),
        PeriodicJob(
            name="rights.expire",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(expire_unverified_requests.enqueue().id),
        ),
    ]


class Command(TillitCommand):
    help = "Enqueue the periodic jobs (the daily retention sweep, expiring unverified rights requests) when due."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Check once and exit (for cron).")
        parser.add_argument("--interval", type=int, default=60, help="Seconds between checks (default 60).")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        while True:
            for name in enqueue_due(jobs(), now=now):
                self.stdout.write(f"{now:%Y-%m-%d %H:%M} enqueued {name}")
            if options["once"]:
                return
            time.sleep(max(1, options["interval"]))
            now = timezone.now()
