"""``tillit restore FILE --yes [--journal JOURNAL]``: replace the database with a backup, then
re-apply every erasure, suppression, consent, withdrawal, objection and subscription change made
since it was taken (in commit order), so that nothing erased or withdrawn comes back. Refuses
while the app or workers run. The journal is written to a file first; a retry after a failure
replays it."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from tillit.cli.base import TillitCommand
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError
from tillit.retention import backup


class Command(TillitCommand):
    help = "Restore a backup, then re-apply the erasures and suppressions made since it was taken."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="A backup written by `tillit backup`.")
        parser.add_argument(
            "--journal",
            help="The erasure journal (`tillit backup --journal`); default: read it from the database being replaced.",
        )
        parser.add_argument("--yes", action="store_true", help="Confirm that the current database is replaced.")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        source = Path(options["file"])
        manifest = backup.read_manifest(source)  # a bad file fails before anything is touched
        if not options["yes"]:
            raise ValidationError(
                f"this replaces the whole database with the backup taken {manifest['taken_at']:%Y-%m-%d %H:%M} UTC; "
                "add --yes to go ahead",
                field="--yes",
            )
        journal = backup.load_journal(Path(options["journal"])) if options["journal"] else None
        started = time.perf_counter()
        summary = backup.restore_backup(
            actor=Actor.system("restore"),
            now=now,
            path=source,
            journal=journal,
            progress=lambda message: self.stdout.write(f"  {message}"),
        )
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"Restored the backup taken {summary.taken_at:%Y-%m-%d %H:%M} UTC in {elapsed:.1f} s; "
            f"re-applied {summary.receipts_restored} erasure receipts, {summary.suppressions_restored} "
            f"suppressions, {summary.consents_restored} consent ledger entries, "
            f"{summary.subscriptions_restored} subscription changes and {summary.cookie_choices_restored} cookie "
            f"choices, and erased {summary.erased_again} people again."
        )
