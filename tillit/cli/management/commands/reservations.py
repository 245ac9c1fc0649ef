"""``tillit reservations import FILE --date YYYY-MM-DD`` and ``tillit reservations lookup``:
the Reservasjonsregisteret (Brønnøysundregistrene) that marketing calls are checked against
(markedsføringsloven §§12-13, policy ``[telemarketing]``).

``import``: a file extract of every reserved number (one number a line, or the first column of
a CSV), with the day its data is from; only keyed hashes of the numbers are stored. ``lookup``:
asks the official lookup service (``--url``, else ``TILLIT_RESERVATION_LOOKUP_URL``) about every
number we hold. ``status``: the register data in force and until when it may be called from.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from tillit import policy
from tillit.cli.base import TillitCommand
from tillit.consent import reservations
from tillit.consent import selectors as consent_selectors
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError
from tillit.policy import telemarketing


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"expected a date YYYY-MM-DD, got {value!r}", field="--date") from None


class Command(TillitCommand):
    help = "The Reservasjonsregisteret (markedsføringsloven §12): import an extract, look numbers up, show status."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        run = actions.add_parser("import", help="Import a file extract of reserved numbers.")
        run.add_argument("file", type=Path, help="One number a line (or the first column of a CSV).")
        run.add_argument("--date", required=True, help="The day the extract's data is from (YYYY-MM-DD).")
        look = actions.add_parser("lookup", help="Ask the lookup service about every number we hold.")
        look.add_argument("--url", default="", help="The service's base URL (default TILLIT_RESERVATION_LOOKUP_URL).")
        actions.add_parser("status", help="The register data in force.")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        action = str(options.pop("action"))
        actor = Actor.system(f"cli:reservations-{action}")
        if action == "import":
            summary = reservations.import_extract(
                actor=actor, now=now, path=options["file"], extracted_on=_date(options["date"])
            )
            self.stdout.write(
                f"extract of {summary.extracted_on}: {summary.reserved} reserved numbers stored as keyed hashes"
                f", {summary.rejected} lines rejected"
            )
        elif action == "lookup":
            url = options["url"] or settings.TILLIT_RESERVATION_LOOKUP_URL
            if not url:
                raise ValidationError("no lookup service configured (TILLIT_RESERVATION_LOOKUP_URL)", field="--url")
            summary = reservations.record_lookup(actor=actor, now=now, client=reservations.LookupClient(url))
            self.stdout.write(
                f"lookup of {summary.extracted_on}: {summary.checked} numbers checked, {summary.reserved} reserved"
            )
        self._status(now)

    def _status(self, now: dt.datetime) -> None:
        rules = policy.current().telemarketing
        extract = consent_selectors.reservation_extract()
        if rules is None or extract is None:
            self.stdout.write("no register data: marketing calls are refused")
            return
        until = telemarketing.register_valid_until(rules, extract.extracted_on)
        state = "current" if telemarketing.register_is_current(rules, extract.extracted_on, now) else "STALE"
        self.stdout.write(f"in force: {extract.source} of {extract.extracted_on}, valid until {until} ({state})")
