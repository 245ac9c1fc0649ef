"""``flush``: Django's own, made to work with the append-only ledgers.

Flushing empties every table. On SQLite that is a DELETE per table, which the ledgers' guards
refuse; they are lifted for the flush and put back after it (``tillit.audit.ledgers``).
PostgreSQL truncates, which row triggers do not see. Test runs flush between transactional
tests."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections

from tillit.audit.ledgers import delete_guards_lifted


class Command(DjangoFlush):
    def handle(self, **options: Any) -> None:
        with delete_guards_lifted(connections[options["database"]]):
            super().handle(**options)
