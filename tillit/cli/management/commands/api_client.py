"""``tillit api_client create|list|revoke``: tokens for programs that use the JSON API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import CommandParser

from tillit.accounts import selectors as account_selectors
from tillit.accounts import services as account_services
from tillit.cli.base import TillitCommand
from tillit.core.actors import Actor
from tillit.core.errors import NotFoundError


class Command(TillitCommand):
    help = "Create, list or revoke API tokens. A token acts for a staff user, with that user's role."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token and print it (shown only once).")
        create.add_argument("--user", required=True, help="The staff username the token acts for.")
        create.add_argument("--name", required=True, help="What the token is for, e.g. crm-sync.")
        sub.add_parser("list", help="List tokens (never the secrets).")
        revoke = sub.add_parser("revoke", help="Revoke a token by id.")
        revoke.add_argument("client_id", type=int)

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        actor = Actor.system("cli")
        if options["action"] == "create":
            user = account_selectors.staff_user_by_username(options["user"])
            if user is None:
                raise NotFoundError("no such staff user", field="user")
            client, token = account_services.create_api_client(
                actor=actor, now=now, user_id=user.pk, name=options["name"]
            )
            self.stdout.write(f"API client #{client.pk} for {user.username} ({user.role}). Token, shown once:")
            self.stdout.write(token)
        elif options["action"] == "list":
            for row in account_selectors.api_clients():
                state = "revoked" if row.revoked_at else "active"
                self.stdout.write(f"#{row.pk}\t{row.name}\t{row.user.username}\t{row.key_prefix}…\t{state}")
        else:
            account_services.revoke_api_client(actor=actor, now=now, client_id=options["client_id"])
            self.stdout.write(f"API client #{options['client_id']} revoked.")
