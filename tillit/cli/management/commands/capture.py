"""``tillit capture drain``: apply the queued form submissions (``TILLIT_FORM_INTAKE=queued``).

    tillit capture drain [--once] [--batch N] [--idle-seconds S] [--busy-share F]

Runs until stopped (SIGTERM or Ctrl-C end it after the batch in hand): takes up to ``--batch``
pending submissions at a time, applies them in one transaction (``capture.services.
process_intake``) and sleeps ``--idle-seconds`` when there are none. Several may run at once,
on one host or several: each submission is applied exactly once. A lost database connection or
a deadlock is reported on stderr and retried after the idle pause; the rows stay pending.
``--busy-share`` (below 1) makes a drain on a host that also serves the forms step back while
submissions arrive faster than it applies them: the intake is the buffer, the public path keeps
the CPU, and the backlog is applied at full speed once the load eases.
``--once`` drains until the intake is empty and exits. ``tillit capture intake`` prints the
counts (pending, rejected).

Each action is a subparser and a method ``action_<name>``; to add one, add both.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
from typing import Any

from django.core.management.base import CommandParser
from django.db import DatabaseError, connection
from django.utils import timezone

from tillit.capture import selectors, services
from tillit.cli.base import TillitCommand
from tillit.core.errors import ValidationError

# How often a long-running drain prints what it did (when it did something).
REPORT_SECONDS = 10.0


class Command(TillitCommand):
    help = "Capture (§4): apply the queued form submissions, or show the intake's counts."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        drain = actions.add_parser("drain", help="Apply queued form submissions (until stopped, or --once).")
        drain.add_argument("--once", action="store_true", help="Drain until the intake is empty, then exit.")
        drain.add_argument("--batch", type=int, default=500, help="Submissions per transaction (default 500).")
        drain.add_argument(
            "--idle-seconds", type=float, default=0.2, help="Pause when nothing is pending (default 0.2)."
        )
        drain.add_argument(
            "--busy-share",
            type=float,
            default=1.0,
            help=(
                "While submissions arrive faster than they are applied, work only this share of the time and "
                "leave the rest of the CPU to the public path (e.g. 0.2 on a host that also serves the forms; "
                "default 1: never pause). Once the load eases it drains at full speed."
            ),
        )
        actions.add_parser("intake", help="Show how many submissions are pending and how many were rejected.")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        action = str(options.pop("action")).replace("-", "_")
        getattr(self, f"action_{action}")(now=now, **options)

    def action_intake(self, *, now: dt.datetime, **options: Any) -> None:
        counts = selectors.intake_counts()
        self.stdout.write(", ".join(f"{status}: {n}" for status, n in counts.items()))

    def action_drain(self, *, now: dt.datetime, **options: Any) -> None:
        batch = int(options["batch"])
        idle = float(options["idle_seconds"])
        if batch < 1:
            raise ValidationError("must be at least 1", field="--batch")
        if idle < 0:
            raise ValidationError("must not be negative", field="--idle-seconds")
        share = float(options["busy_share"])
        if not 0 < share <= 1:
            raise ValidationError("must be more than 0 and at most 1", field="--busy-share")
        stop = {"asked": False}

        def ask_to_stop(signum: int, frame: object) -> None:
            stop["asked"] = True

        if not options["once"]:
            signal.signal(signal.SIGTERM, ask_to_stop)
            signal.signal(signal.SIGINT, ask_to_stop)
        started = last_report = time.monotonic()
        total = reported = 0
        while not stop["asked"]:
            try:
                before = selectors.pending_intake() if share < 1 else 0
                batch_started = time.monotonic()
                applied = services.process_intake(actor=services.SUBMITTER, now=timezone.now(), limit=batch)
                took = time.monotonic() - batch_started
                # The intake grew while a batch was applied: submissions arrive faster than they are
                # applied (the public path is under load).
                busy = share < 1 and applied > 0 and selectors.pending_intake() > before
            except DatabaseError as error:
                if options["once"]:
                    raise
                self.stderr.write(f"capture drain: {type(error).__name__}: {error}".splitlines()[0])
                connection.close()  # a fresh connection for the next try
                time.sleep(max(idle, 1.0))
                continue
            total += applied
            clock = time.monotonic()
            if total > reported and clock - last_report >= REPORT_SECONDS:
                self.stdout.write(f"applied {total - reported} submissions ({total} in all)")
                self.stdout.flush()
                reported, last_report = total, clock
            if applied == 0:
                if options["once"]:
                    break
                time.sleep(idle)
            elif busy and not options["once"]:
                time.sleep(took * (1 - share) / share)
        elapsed = time.monotonic() - started
        rejected = selectors.intake_counts()["rejected"]
        self.stdout.write(
            f"Drained {total} submissions in {elapsed:.1f} s; rejected in the intake: {rejected} "
            "(tillit capture intake)."
        )
