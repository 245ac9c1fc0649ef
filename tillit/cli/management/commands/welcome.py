"""``tillit welcome --url URL``: what `make run` prints before serving: the addresses and the
demo logins."""

from __future__ import annotations

import datetime as dt
from typing import IO, Any, cast

from django.core.management.base import CommandParser
from rich.console import Console
from rich.table import Table

from tillit.accounts.models import User
from tillit.cli.base import TillitCommand
from tillit.people import demo


class Command(TillitCommand):
    help = "Print the URLs of the running system and the demo staff logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        console = Console(file=cast(IO[str], self.stdout._out), highlight=False)
        url = options["url"].rstrip("/")
        console.print(f"\n[bold]tillit[/bold] is starting at {url}/")
        for label, path in (
            ("Staff sign-in", "/login/"),
            ("People", "/people/"),
            ("Privacy notice", "/privacy"),
            ("API docs", "/api/docs"),
            ("OpenAPI", "/api/openapi.json"),
        ):
            console.print(f"  {label:<16} {url}{path}")
        logins = [(u, r, p) for u, r, p in demo.ensure_demo_staff(now=now) if User.objects.filter(username=u).exists()]
        demo.enrol_demo_totp(usernames=[u for u, _, _ in logins])
        table = Table(title="Demo staff logins (fictional; a demo system only)")
        for column in ("Username", "Role", "Password"):
            table.add_column(column)
        for row in logins:
            table.add_row(*row)
        console.print(table)
        console.print(
            "The sign-in asks for a code from an authenticator app; on this demo system\n"
            "  .venv/bin/tillit demo_code marketing\nprints the current one.\n"
        )
