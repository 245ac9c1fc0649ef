"""``tillit demo [--people N] [--seed S] [--if-empty] [--no-staff]``: fictional demo data.

Writes N people (default 200) with their organisations, interactions, product interests and
customer relationships, and one staff login per policy role. ``make run`` calls it with
``--if-empty``, so a second run leaves the data alone; without it each run adds a batch.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import IO, Any, cast

from django.core.management.base import CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from tillit.cli.base import TillitCommand
from tillit.people import demo


class Command(TillitCommand):
    help = "Write fictional demo people, organisations and interactions, and a demo login per policy role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--people", type=int, default=200, help="How many people to write (default 200).")
        parser.add_argument("--seed", type=int, default=2026, help="The random seed (the same seed, the same data).")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when there are people already (for make run)."
        )
        parser.add_argument("--no-staff", action="store_true", help="Do not create the demo staff logins.")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        people: int = options["people"]
        if not 1 <= people <= demo.MAX_PEOPLE:
            raise CommandError(f"--people must be between 1 and {demo.MAX_PEOPLE:,}, got {people:,}")
        # Django's OutputWrapper adds line endings, which breaks rich's live display: write to
        # the stream it wraps (the terminal, or the StringIO of call_command in tests).
        console = Console(file=cast(IO[str], self.stdout._out), highlight=False)

        if options["if_empty"]:
            existing = demo.people_count()
            if existing:
                console.print(f"Demo data already exists ({existing:,} people); nothing written.")
                return

        started = time.perf_counter()
        with Progress(
            TextColumn("Writing demo data"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("people"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as bar:
            task = bar.add_task("demo", total=people)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = demo.generate_demo(people=people, seed=options["seed"], now=now, progress=progress)
        seconds = time.perf_counter() - started
        console.print(
            f"Wrote {summary.people:,} people, {summary.organizations:,} organisations, "
            f"{summary.interactions:,} interactions, {summary.consents:,} consent records and "
            f"{summary.subscriptions:,} subscriptions, each person with a retention deadline, in {seconds:.1f} s"
        )
        if options["no_staff"]:
            return
        table = Table(title="Demo staff logins (fictional; never use these outside a demo)")
        table.add_column("Username")
        table.add_column("Role")
        table.add_column("Password")
        logins = demo.ensure_demo_staff(now=now)
        demo.enrol_demo_totp(usernames=[username for username, _, _ in logins])
        for username, role, password in logins:
            table.add_row(username, role, password)
        console.print(table)
        console.print("Sign-in asks for a code: `tillit demo_code USERNAME` prints the current one.")
