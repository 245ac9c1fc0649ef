"""``tillit backup FILE``: a consistent, compressed backup of the database;
``tillit backup --journal FILE --since BACKUP``: the erasure journal since a backup was taken
(keep it off-site beside the backups, so a restore can honour erasures even if this database
is lost)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from tillit.cli.base import TillitCommand
from tillit.retention import backup


class Command(TillitCommand):
    help = "Write a consistent, compressed backup of the database (or, with --journal, the erasure journal)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Where to write the backup (a new file).")
        parser.add_argument(
            "--journal",
            metavar="BACKUP",
            help="Instead of a backup: write to FILE the erasure receipts and suppressions since BACKUP was taken.",
        )

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        target = Path(options["file"])
        if options["journal"]:
            manifest = backup.read_manifest(Path(options["journal"]))
            journal = backup.erasure_journal(since=manifest["taken_at"] - backup.JOURNAL_MARGIN)
            backup.export_journal(journal, target)
            self.stdout.write(
                f"Wrote the erasure journal since {manifest['taken_at']:%Y-%m-%d %H:%M} UTC to {target}: "
                f"{len(journal.receipts)} receipts, {len(journal.suppressions)} suppressions."
            )
            return
        started = time.perf_counter()
        summary = backup.write_backup(now=now, path=target)
        self.stdout.write(
            f"Backed up the {summary.vendor} database to {summary.path} "
            f"({summary.size / 2**20:.1f} MiB, {time.perf_counter() - started:.1f} s)."
        )
