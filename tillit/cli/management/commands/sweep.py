"""``tillit sweep [--dry-run]``: erase everyone whose retention deadline has passed (§9)."""

from __future__ import annotations

import datetime as dt
import time
from typing import IO, Any, cast

from django.core.management.base import CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tillit.capture import visits
from tillit.cli.base import TillitCommand
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError
from tillit.retention import selectors, services


class Command(TillitCommand):
    help = "Erase everyone past their retention deadline, in batches; --dry-run only counts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count who would be erased, per reason; write nothing."
        )
        parser.add_argument("--batch-size", type=int, default=2000, help="People per transaction (default 2000).")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        console = Console(file=cast(IO[str], self.stdout._out), highlight=False)
        if options["dry_run"]:
            started = time.perf_counter()
            preview = selectors.sweep_preview(now=now)
            console.print(f"Past their deadline at {now:%Y-%m-%d %H:%M} UTC (dry run: nothing written)")
            table = Table()
            table.add_column("reason")
            table.add_column("people", justify="right")
            for reason, count in sorted(preview.items()):
                table.add_row(reason, f"{count:,}")
            table.add_row("total", f"{sum(preview.values()):,}")
            console.print(table)
            console.print(f"Counted in {time.perf_counter() - started:.2f} s.")
            return
        if not 1 <= options["batch_size"] <= 50_000:
            raise ValidationError("must be between 1 and 50000", field="--batch-size")
        started = time.perf_counter()
        with Progress(
            TextColumn("erasing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
        ) as bar:
            task = bar.add_task("sweep", total=None)
            summary = services.sweep(
                actor=Actor.system("sweep"),
                now=now,
                batch_size=options["batch_size"],
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        elapsed = time.perf_counter() - started
        reasons = ", ".join(f"{reason}: {count:,}" for reason, count in sorted(summary.by_reason.items())) or "none"
        console.print(
            f"Erased {summary.erased:,} people in {summary.batches:,} batches in {elapsed:.1f} s ({reasons}); "
            "a receipt for each."
        )
        if summary.sole_proprietorships:
            console.print(
                f"Erased {summary.sole_proprietorships:,} sole proprietorships (§6) with nobody linked to them."
            )
        raw = visits.sweep_raw_visits(actor=Actor.system("sweep"), now=now)
        console.print(
            f"Site visits: {raw.days_counted:,} days counted, {raw.deleted:,} raw visits recorded before "
            f"{raw.cutoff:%Y-%m-%d} deleted."
        )
