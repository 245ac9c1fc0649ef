"""The base of tillit's management commands: domain errors become one line and exit 1."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tillit.core.errors import DomainError


class TillitCommand(BaseCommand):
    """A command whose ``act`` may raise ``DomainError``; it is shown as one line, exit 1."""

    def handle(self, *args: Any, **options: Any) -> str | None:
        try:
            return self.act(now=timezone.now(), **options)
        except DomainError as error:
            where = f" ({error.field})" if error.field else ""
            raise CommandError(f"{error.message}{where}") from None

    def act(self, *, now: dt.datetime, **options: Any) -> str | None:
        raise NotImplementedError
