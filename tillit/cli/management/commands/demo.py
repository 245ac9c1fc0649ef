"""``tillit demo [--people N] [--seed S] [--if-empty] [--no-staff] [--no-sweep]``: fictional demo data.

Writes N people (default 200) with their organisations, interactions, product interests and
customer relationships, and one staff login per policy role. ``make run`` calls it with
``--if-empty``, so a second run leaves the data alone; without it each run adds a batch. Then
it runs the retention sweep (unless ``--no-sweep``): the data spans three years, and a fresh
demo must already be a system where ``tillit verify`` finds nothing.
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
from tillit.core.actors import Actor
from tillit.marketing import services as marketing
from tillit.marketing.models import NewsletterList
from tillit.people import demo
from tillit.retention import services as retention


class Command(TillitCommand):
    help = "Write fictional demo people, organisations and interactions, and a demo login per policy role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--people", type=int, default=200, help="How many people to write (default 200).")
        parser.add_argument("--seed", type=int, default=2026, help="The random seed (the same seed, the same data).")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when there are people already (for make run)."
        )
        parser.add_argument("--no-staff", action="store_true", help="Do not create the demo staff logins.")
        parser.add_argument(
            "--no-sweep", action="store_true", help="Leave people past their deadline for the daily sweep."
        )

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
        _ensure_demo_newsletter(now=now)
        if not options["no_sweep"]:
            # The data spans three years, so some people are past their deadline (§9) from the
            # start: run the daily sweep now, so the demo is a system that keeps its policy.
            swept = retention.sweep(actor=Actor.system("sweep"), now=now)
            console.print(f"Swept {swept.erased:,} people past their retention deadline (the daily sweep's job).")
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


def _ensure_demo_newsletter(*, now: dt.datetime) -> None:
    """The newsletter the demo subscribers are on, so a campaign can be sent to them."""
    if NewsletterList.objects.filter(key=demo.DEMO_NEWSLETTER).exists():
        return
    marketing.create_newsletter(
        actor=Actor.system("demo"),
        now=now,
        key=demo.DEMO_NEWSLETTER,
        name={"en": "Monthly insights", "sv": "Månadens insikter", "nb": "Månedens innsikt"},
        description={
            "en": "News from Avara once a month.",
            "sv": "Nyheter från Avara en gång i månaden.",
            "nb": "Nyheter fra Avara én gang i måneden.",
        },
    )
