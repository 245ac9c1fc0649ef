"""``tillit rights expire``: expire data subject requests never confirmed (their link ran out)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import CommandParser

from tillit.cli.base import TillitCommand
from tillit.core.actors import Actor
from tillit.rights import services


class Command(TillitCommand):
    help = "Data subject requests: `expire` closes requests whose confirmation link has run out."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["expire"])

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        expired = services.expire_requests(actor=Actor.system("rights-expiry"), now=now)
        self.stdout.write(f"{expired} unconfirmed request(s) expired.")
