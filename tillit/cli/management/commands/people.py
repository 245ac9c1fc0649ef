"""``tillit people search|show --as USERNAME``: read people from the command line, through the
same read gate as the staff UI and the API (the user's role decides what shows; audited).
``search`` reads its term from standard input unless one is given (``echo kari | tillit people
search --as ...``), so no shell history keeps it."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

from django.core.management.base import CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from tillit.accounts import selectors as account_selectors
from tillit.cli.base import TillitCommand
from tillit.core.errors import NotFoundError
from tillit.people import selectors


class Command(TillitCommand):
    help = "Search or show people as a staff member would see them (the read gate applies)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        search = sub.add_parser("search", help="Search by name, email, phone or organisation.")
        search.add_argument(
            "query",
            nargs="?",
            default="-",
            help="The term, or - (the default) to read it from standard input: a term on the command "
            "line stays in the shell's history and the process list after the person is erased.",
        )
        show = sub.add_parser("show", help="One person as JSON.")
        show.add_argument("person_id", type=int)
        for p in (search, show):
            p.add_argument("--as", dest="username", required=True, help="The staff username whose role applies.")
            p.add_argument("--purpose", default=None, help="The purpose of the read (default: the role's first).")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        user = account_selectors.staff_user_by_username(options["username"])
        if user is None or not user.is_active:
            raise NotFoundError("no such active staff user", field="--as")
        actor = account_selectors.actor_for_user(user)
        if options["action"] == "show":
            person = selectors.get_person(
                actor=actor, now=now, person_id=options["person_id"], purpose=options["purpose"]
            )
            self.stdout.write(json.dumps(person, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))
            return
        query = options["query"]
        if query == "-":
            query = sys.stdin.readline().strip()
        page = selectors.search_people(actor=actor, now=now, purpose=options["purpose"], query=query)
        for item in page.items:
            self.stdout.write(
                f"#{item['id']}\t{item.get('name', '-')}\t{item.get('email') or '-'}\t{item.get('retain_reason', '')}"
            )
        self.stdout.write(f"{len(page.items)} shown{' (more: refine the search)' if page.has_next else ''}")
