"""``tillit backup FILE``: a consistent, compressed backup of the database;
``tillit backup FILE --journal BACKUP``: the journal since a backup was taken, in commit order
(erasures, suppressions, consents, withdrawals, objections, subscriptions; keep it off-site
beside the backups, so a restore can honour them even if this database is lost);
``tillit backup OLDEST --prune-journal``: delete the journal entries that the oldest backup kept
(and so every later one) already holds."""

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
            help="Instead of a backup: write to FILE the journal (erasures, consents, subscriptions...) since BACKUP.",
        )
        parser.add_argument(
            "--prune-journal",
            action="store_true",
            help="Instead of a backup: FILE is the oldest backup kept; delete the journal entries it already holds.",
        )

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        target = Path(options["file"])
        if options["prune_journal"]:
            deleted = backup.prune_journal(oldest=backup.read_manifest(target))
            self.stdout.write(f"Deleted {deleted} journal entries that every backup from {target} on holds.")
            return
        if options["journal"]:
            manifest = backup.read_manifest(Path(options["journal"]))
            journal = backup.journal_since(manifest)
            backup.export_journal(journal, target)
            self.stdout.write(
                f"Wrote the journal since the backup of {manifest['taken_at']:%Y-%m-%d %H:%M} UTC to {target}: "
                f"{journal.describe()}."
            )
            return
        started = time.perf_counter()
        summary = backup.write_backup(now=now, path=target)
        self.stdout.write(
            f"Backed up the {summary.vendor} database to {summary.path} "
            f"({summary.size / 2**20:.1f} MiB, {time.perf_counter() - started:.1f} s)."
        )
