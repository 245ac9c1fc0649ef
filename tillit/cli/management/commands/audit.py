"""``tillit audit verify``: check that no audit entry was edited, deleted or reordered.

Prints ``audit chain intact: 12,345 entries`` and the head of the chain (``SEQUENCE:HASH``) and
exits 0, or one line naming the first broken entry and how it broke (``audit chain broken at
entry 17: edited``) on stderr and exits 1. ``--anchor SEQUENCE:HASH`` (a head noted earlier,
outside the database) also catches the newest entries deleted, or the log rewritten with fresh
hashes from some entry on.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import IO, Any, cast

from django.core.management.base import CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tillit.audit import selectors
from tillit.cli.base import TillitCommand
from tillit.core.errors import ValidationError


class Command(TillitCommand):
    help = "verify: check the audit log's hash chain; exit 1 at the first edited, deleted or reordered entry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify"], help="verify: check the hash chain of the audit log.")
        parser.add_argument(
            "--anchor",
            metavar="SEQUENCE:HASH",
            help="The head printed by an earlier run, kept outside the database: that entry must still be there.",
        )

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        del now
        anchor = _anchor(options["anchor"]) if options.get("anchor") else None
        console = Console(file=cast(IO[str], self.stdout), highlight=False)
        started = time.perf_counter()
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
            transient=True,
        ) as bar:
            task = bar.add_task("verify", total=None)
            report = selectors.verify_chain(
                anchor=anchor, progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
        if not report.is_intact:
            # A finding, not a usage error: the bare line, no "CommandError:" prefix.
            self.stderr.write(f"audit chain broken at entry {report.broken_at}: {report.kind}")
            raise SystemExit(1)
        elapsed = time.perf_counter() - started
        console.print(f"audit chain intact: {report.entries:,} entries")
        if report.entries:
            console.print(f"head: {report.last_sequence}:{report.last_hash} ({elapsed:.1f} s)", soft_wrap=True)


def _anchor(text: str) -> tuple[int, str]:
    """``SEQUENCE:HASH`` as a (sequence, hash) pair."""
    sequence, _, digest = text.strip().partition(":")
    digest = digest.lower()
    if (
        not sequence.isdigit()
        or int(sequence) < 1
        or len(digest) != 64
        or any(c not in "0123456789abcdef" for c in digest)
    ):
        raise ValidationError("expected SEQUENCE:HASH, e.g. 1234:9f86d0...", field="--anchor")
    return int(sequence), digest
