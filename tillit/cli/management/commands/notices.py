"""``tillit notices``: queue the notices owed to partners and processors after corrections and
erasures (GDPR art. 19) and make one attempt at every delivery and notice that is due. The
daily job does the same right after the sweep; this is for operators and cron."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tillit.cli.base import TillitCommand
from tillit.sharing.tasks import notify_and_retry


class Command(TillitCommand):
    help = "Queue art. 19 notices to partners and processors, and retry deliveries and notices that are due."

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        counts = notify_and_retry(now=now)
        self.stdout.write(
            "queued: {erasures} erasure and {corrections} correction notices to partners, "
            "{processors} to processors; attempted: {deliveries} deliveries, {notices} notices".format(**counts)
        )
