"""``tillit scheduler``: the clock. Enqueues the daily jobs (the retention sweep) once a day;
``tillit db_worker`` runs them. Safe to run on several hosts at once."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.utils import timezone

from tillit.accounts.tasks import remind_mailbox_reviews
from tillit.capture.tasks import sweep_raw_visits
from tillit.cli.base import TillitCommand
from tillit.consent.tasks import ask_to_renew_consents, send_indirect_notices
from tillit.core.scheduling import PeriodicJob, enqueue_due
from tillit.marketing.tasks import forget_unconfirmed_requests
from tillit.people.tasks import end_lapsed_customer_relationships
from tillit.retention.tasks import prune_own_records, sweep_past_deadline
from tillit.rights.tasks import expire_unverified_requests
from tillit.sharing.tasks import notify_recipients, verify_after_sweep


def jobs() -> list[PeriodicJob]:
    return [
        PeriodicJob(
            name="retention.sweep",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(sweep_past_deadline.enqueue().id),
        ),
        # Right after the sweep (they wait for its lock): tell partners and processors of the
        # day's corrections and erasures (art. 19), then check the live data against the policy.
        PeriodicJob(
            name="sharing.notify",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(notify_recipients.enqueue().id),
        ),
        PeriodicJob(
            name="sharing.verify",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(verify_after_sweep.enqueue().id),
        ),
        PeriodicJob(
            name="rights.expire",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(expire_unverified_requests.enqueue().id),
        ),
        PeriodicJob(
            name="capture.raw_visits",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(sweep_raw_visits.enqueue().id),
        ),
        # GDPR art. 14: tell people obtained from an indirect source (or record the exemption).
        PeriodicJob(
            name="consent.art14_notices",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(send_indirect_notices.enqueue().id),
        ),
        # Consent has a lifetime (§5): ask once, by email, to renew a consent that lapses soon.
        PeriodicJob(
            name="consent.renewals",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(ask_to_renew_consents.enqueue().id),
        ),
        PeriodicJob(
            name="marketing.forget_requests",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(forget_unconfirmed_requests.enqueue().id),
        ),
        # Our own records past their period (§9): audit entries behind a signed checkpoint,
        # erasure receipts.
        PeriodicJob(
            name="retention.own_records",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(prune_own_records.enqueue().id),
        ),
        # Staff whose yearly mailbox review is due soon get a reminder (§16).
        PeriodicJob(
            name="accounts.mailbox_reminders",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(remind_mailbox_reviews.enqueue().id),
        ),
        # Customer relationships with no active service and no recent order end (§9).
        PeriodicJob(
            name="people.lapsed_customers",
            hour=settings.TILLIT_SWEEP_HOUR,
            enqueue=lambda: str(end_lapsed_customer_relationships.enqueue().id),
        ),
    ]


class Command(TillitCommand):
    help = (
        "Enqueue the periodic jobs (the daily retention sweep, expiring unverified rights requests, "
        "counting and deleting raw site visits) when due."
    )

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
