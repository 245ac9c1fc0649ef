"""``tillit delivery_notice [FILE ...]``: take bounce (RFC 3464 DSN) or complaint (RFC 5965 ARF)
messages in RFC 822 form, from files or standard input, and stop sending to their addresses
(the suppression list); an email to the List-Unsubscribe mailto: (subject "unsubscribe TOKEN")
unsubscribes. For a mail server's pipe or a mailbox's export. One line per message."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from tillit.cli.base import TillitCommand
from tillit.core.actors import Actor
from tillit.core.errors import DomainError
from tillit.marketing import services


class Command(TillitCommand):
    help = "Take bounce or complaint messages (RFC 822 files, or standard input) and suppress their addresses."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="*", help="Message files (default: one message on standard input).")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        actor = Actor.system("delivery-notices")
        sources = [(name, Path(name).read_bytes) for name in options["files"]] or [("-", sys.stdin.buffer.read)]
        failed = 0
        for name, read in sources:
            try:
                result = services.record_delivery_notice(actor=actor, now=now, raw=read())
            except OSError as error:
                failed += 1
                self.stderr.write(f"{name}: cannot read: {error.strerror}")
                continue
            except DomainError as error:
                failed += 1
                self.stderr.write(f"{name}: {error.message}")
                continue
            if result.kind == "unsubscribe":
                done = "unsubscribed" if result.status else "nothing to stop (already unsubscribed, or erased)"
                self.stdout.write(f"{name}: unsubscribe: {done}")
                continue
            outcome = "address suppressed" if result.suppressed else "recorded (temporary: not suppressed)"
            self.stdout.write(f"{name}: {result.kind} {result.status}: {outcome}".replace("  ", " "))
        if failed:
            raise CommandError(f"{failed} of {len(sources)} messages were not taken")
