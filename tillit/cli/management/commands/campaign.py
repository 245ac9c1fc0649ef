"""``tillit campaign status|resume ID``: a campaign's progress; after a worker died, release
its batches and enqueue the sending again (``tillit db_worker`` sends)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import CommandParser

from tillit.cli.base import TillitCommand
from tillit.core.actors import Actor
from tillit.marketing import selectors, services


class Command(TillitCommand):
    help = "Show a campaign's progress, or resume sending it after a worker stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "resume"])
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("--workers", type=int, default=2, help="Send tasks to enqueue on resume (default 2).")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        actor = Actor.system("campaign-cli")
        if options["action"] == "resume":
            left = services.resume_campaign(
                actor=actor, now=now, campaign_id=options["campaign_id"], workers=max(1, options["workers"])
            )
            self.stdout.write(f"resumed: {left} messages left to send")
            return
        progress = selectors.progress(actor=actor, campaign_id=options["campaign_id"])
        counts = " ".join(f"{k}={v}" for k, v in progress.counts.items())
        stalled = " (stalled: run `tillit campaign resume`)" if progress.stalled(now) else ""
        self.stdout.write(f"{progress.status}: {progress.done}/{progress.total} done; {counts}{stalled}")
