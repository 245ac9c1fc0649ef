"""``tillit register import FILE``: enrich organisations from the Norwegian register of legal
entities (Enhetsregisteret), policy §6.

FILE is the register's bulk download of entities (JSON, or the .json.gz as downloaded). It is
streamed with a progress bar; each batch is one transaction. Rows that cannot be imported are
listed (row number, field, reason) and never stop the good ones; ``--errors report.csv`` writes
all of them. The register of roles (named people) is refused.

Each action is a subparser and a method ``action_<name>``; to add one, add both.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from pathlib import Path
from typing import IO, Any, cast

from django.core.management.base import CommandParser
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from tillit.capture import register
from tillit.cli.base import TillitCommand
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError

SHOWN_ERRORS = 20


class Command(TillitCommand):
    help = "Public registers (§6): import the register of legal entities into organisations."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        run = actions.add_parser(
            "import", help="Import a bulk file of Enhetsregisteret (JSON or .json.gz) into organisations."
        )
        run.add_argument("file", type=Path, help="The bulk file of entities (enheter), JSON or gzip.")
        run.add_argument("--batch-size", type=int, default=register.BATCH_SIZE, help="Entities per transaction.")
        run.add_argument("--errors", type=Path, default=None, help="Write every rejected row to this CSV file.")
        run.add_argument(
            "--industry-standard",
            default=register.DEFAULT_INDUSTRY_STANDARD,
            help="The industry classification of codes that do not name their version (default SN2007).",
        )

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        action = str(options.pop("action")).replace("-", "_")
        getattr(self, f"action_{action}")(now=now, **options)

    def action_import(self, *, now: dt.datetime, **options: Any) -> None:
        console = Console(file=cast(IO[str], self.stdout._out), highlight=False, soft_wrap=True)
        path: Path = options["file"]
        report = None
        writer = None
        if options["errors"] is not None:
            try:
                report = options["errors"].open("w", newline="", encoding="utf-8")
            except OSError as error:
                raise ValidationError(f"cannot write the error report ({error.strerror})", field="--errors") from None
            writer = csv.writer(report)
            writer.writerow(["row", "field", "reason"])
        started = time.perf_counter()
        try:
            with Progress(
                TextColumn("importing"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
                disable=not console.is_terminal,
            ) as bar:
                task = bar.add_task("register", total=None)
                summary = register.import_entities(
                    actor=Actor.system("cli:register-import"),
                    now=now,
                    path=path,
                    batch_size=options["batch_size"],
                    default_standard=options["industry_standard"],
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                    on_error=(lambda e: writer.writerow([e.row, e.field, e.message])) if writer else None,
                    keep_errors=SHOWN_ERRORS,
                )
        finally:
            if report is not None:
                report.close()
        elapsed = time.perf_counter() - started
        for rejected in summary.errors:
            console.print(f"row {rejected.row}: {rejected.field}: {rejected.message}")
        if summary.rejected > len(summary.errors):
            more = summary.rejected - len(summary.errors)
            where = f"; all in {options['errors']}" if options["errors"] else " (--errors FILE lists them all)"
            console.print(f"... and {more:,} more rejected rows{where}")
        rate = summary.read / elapsed if elapsed > 0 else 0.0
        console.print(
            f"Read {summary.read:,} entities in {elapsed:.1f} s ({rate:,.0f}/s): {summary.inserted:,} new "
            f"organisations, {summary.updated:,} updated, {summary.unchanged:,} unchanged, "
            f"{summary.rejected:,} rejected; source: public register ({register.REGISTER})."
        )
