"""``tillit verify``: check the live data against the policy and print every violation.

One line per violation, ``<kind>  <pseudonymous id>  <detail>``, then the count per kind and
the total. Exits 0 when there are none, 1 when there are any. The run is kept for the privacy
officer's report in the staff UI (``--no-record`` for a read-only database).
"""

from __future__ import annotations

import datetime as dt
import resource
from typing import Any

from django.core.management.base import CommandParser

from tillit.cli.base import TillitCommand
from tillit.sharing import verifier


class Command(TillitCommand):
    help = "Check the live data against the privacy policy; print every violation; exit 1 if there are any."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-record", action="store_true", help="Do not keep the run (a read-only database).")
        parser.add_argument("--quiet", action="store_true", help="Print only the counts and the total.")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        kept: list[verifier.Violation] = []
        quiet = options["quiet"]

        def emit(violation: verifier.Violation) -> None:
            if len(kept) < verifier.KEEP:
                kept.append(violation)
            if not quiet:
                line = f"{violation.kind}\t{violation.subject}"
                self.stdout.write(f"{line}\t{violation.detail}" if violation.detail else line)

        report = verifier.run(now=now, emit=emit)
        for kind in verifier.KINDS:
            if report.counts.get(kind):
                self.stdout.write(f"{kind}: {report.counts[kind]:,}")
        if not options["no_record"]:
            verifier.store(started_at=now, report=report, kept=kept, actor_label="cli:verify")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        noun = "violation" if report.total == 1 else "violations"
        self.stdout.write(f"{report.total:,} {noun} ({report.seconds:.1f} s, peak memory {peak_mb:.0f} MB)")
        if report.total:
            raise SystemExit(1)
