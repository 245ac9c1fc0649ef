"""The journal a restore replays: database triggers that note, in the transaction of the
change itself, every erasure receipt, suppression entry, consent ledger entry, subscription
change and cookie banner choice (``retention.JournalEntry``). Written by the database, so no
code path can forget it.
It also notes each marketing send's claim, with what the claiming transaction could see, so
``tillit verify`` can tell in commit order whether the claim came after an objection.

The triggers are installed by the migration and again after every ``migrate`` (SQLite drops
a table's triggers when a later migration rebuilds the table)."""

from __future__ import annotations

from typing import Any

JOURNAL_TABLE = "retention_journalentry"
# (kind, table, the changes noted)
JOURNALLED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("receipt", "retention_erasurereceipt", ("INSERT",)),
    ("suppression", "consent_suppressionentry", ("INSERT",)),
    ("consent", "consent_consentevent", ("INSERT",)),
    ("subscription", "consent_subscription", ("INSERT", "UPDATE")),
    ("cookie", "consent_cookiechoice", ("INSERT",)),
)

# A marketing send claimed: pending -> sending (or straight to sent).
CLAIM_TABLE = "marketing_sendrecord"
RESTORED_KINDS = tuple(kind for kind, _, _ in JOURNALLED)

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION retention_journal_change() RETURNS trigger AS $$
BEGIN
    INSERT INTO retention_journalentry (kind, ref_id, txid)
    VALUES (TG_ARGV[0], NEW.id, pg_current_xact_id()::text::bigint);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION retention_journal_claim() RETURNS trigger AS $$
BEGIN
    INSERT INTO retention_journalentry (kind, ref_id, txid, snapshot)
    VALUES ('claim', NEW.id, pg_current_xact_id()::text::bigint, pg_current_snapshot()::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
_CLAIMED = "OLD.status = 'pending' AND NEW.status IN ('sending', 'sent')"


def _statements(vendor: str) -> list[str]:
    statements = [_PG_FUNCTION] if vendor == "postgresql" else []
    for kind, table, operations in JOURNALLED:
        if vendor == "postgresql":
            name = f"{table}_journal"
            statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table};")
            statements.append(
                f"CREATE TRIGGER {name} AFTER {' OR '.join(operations)} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION retention_journal_change('{kind}');"
            )
            continue
        for operation in operations:
            name = f"{table}_journal_{operation.lower()}"
            statements.append(f"DROP TRIGGER IF EXISTS {name};")
            statements.append(
                f"CREATE TRIGGER {name} AFTER {operation} ON {table}\nBEGIN\n"  # noqa: S608 (our own table names)
                f"    INSERT INTO retention_journalentry (kind, ref_id, txid) VALUES ('{kind}', NEW.id, NULL);\nEND;"
            )
    if vendor == "postgresql":
        statements.append(f"DROP TRIGGER IF EXISTS {CLAIM_TABLE}_journal ON {CLAIM_TABLE};")
        statements.append(
            f"CREATE TRIGGER {CLAIM_TABLE}_journal AFTER UPDATE OF status ON {CLAIM_TABLE} "
            f"FOR EACH ROW WHEN ({_CLAIMED}) EXECUTE FUNCTION retention_journal_claim();"
        )
    else:
        statements.append(f"DROP TRIGGER IF EXISTS {CLAIM_TABLE}_journal;")
        statements.append(
            f"CREATE TRIGGER {CLAIM_TABLE}_journal AFTER UPDATE OF status ON {CLAIM_TABLE} WHEN {_CLAIMED}\n"  # noqa: S608
            f"BEGIN\n    INSERT INTO {JOURNAL_TABLE} (kind, ref_id) VALUES ('claim', NEW.id);\nEND;"
        )
    return statements


def install_triggers(connection: Any) -> None:
    """(Re)create the journal's triggers on ``connection`` (idempotent)."""
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor):
            cursor.execute(statement)


def remove_triggers(connection: Any) -> None:
    with connection.cursor() as cursor:
        for _, table, operations in JOURNALLED:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_journal ON {table};")
            else:
                for operation in operations:
                    cursor.execute(f"DROP TRIGGER IF EXISTS {table}_journal_{operation.lower()};")
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {CLAIM_TABLE}_journal ON {CLAIM_TABLE};")
            cursor.execute("DROP FUNCTION IF EXISTS retention_journal_change();")
            cursor.execute("DROP FUNCTION IF EXISTS retention_journal_claim();")
        else:
            cursor.execute(f"DROP TRIGGER IF EXISTS {CLAIM_TABLE}_journal;")


def reinstall_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """``post_migrate``: put the triggers back if a migration rebuilt a journalled table."""
    from django.db import connections

    connection = connections[using]
    tables = set(connection.introspection.table_names())
    needed = {JOURNAL_TABLE, CLAIM_TABLE, *(table for _, table, _ in JOURNALLED)}
    if needed <= tables:
        install_triggers(connection)
