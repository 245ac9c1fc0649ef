"""Writing to the audit log. Called inside the transaction of the action it records.

Every entry is numbered and hash-chained to the one before it (``tillit.audit.chain``). The
chain must never fork, so writers are serialised while they read the tail and append:
- on PostgreSQL by a transaction-level advisory lock (``pg_advisory_xact_lock``), taken inside
  the caller's transaction and held until it commits or rolls back, so the next writer reads
  the tail only after this one's entries are visible (READ COMMITTED takes a new snapshot per
  statement);
- on SQLite by the write lock itself: the configured IMMEDIATE transaction mode takes it when
  the transaction begins, and ``record``/``record_many`` always run inside ``atomic()``.
The unique ``sequence`` is the last guard: two writers that somehow read the same tail cannot
both commit. A rolled-back action takes its entries with it and leaves no gap, because numbers
come from the tail, not from a database sequence.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar

from django.db import connection, transaction

from tillit.audit.chain import CONTENT_FIELDS, GENESIS, entry_hash
from tillit.audit.models import AuditEntry
from tillit.core.actors import Actor

# The key of the advisory lock that serialises writers of the chain (a fixed 64-bit number).
CHAIN_LOCK_KEY = int.from_bytes(hashlib.sha256(b"tillit:audit-chain").digest()[:8], "big", signed=True)


def record(
    *,
    actor: Actor,
    now: dt.datetime,
    action: str,
    subject_type: str,
    subject_id: int | None,
    purpose: str = "",
    fields: Iterable[str] = (),
) -> AuditEntry:
    """Append one entry. ``fields`` are field names, never values."""
    entry = AuditEntry(**_row(actor, now, action, subject_type, subject_id, purpose, fields))
    pending = _deferred.get()
    if pending is not None:
        pending.append(entry)
        return entry
    # No savepoint: if the entry cannot be written, the caller's whole action must fail.
    with transaction.atomic(savepoint=False):
        _chain([entry])
        entry.save(force_insert=True)
    return entry


# Entries recorded inside ``deferred()``, appended to the chain when the block ends.
_deferred: ContextVar[list[AuditEntry] | None] = ContextVar("tillit_audit_deferred", default=None)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Inside a transaction: collect the entries that ``record`` is asked to write in this block
    and append them to the chain in one insert when the block ends without an error (still
    inside the transaction; an error discards them with everything else). The chain lock is
    then taken only at the end, so it is held from there to the commit, not for the whole
    action: a hot path of several services (a form submission) writes its entries in one go
    and no longer serialises every concurrent submission. Nested blocks join the outer one."""
    if _deferred.get() is not None:
        yield
        return
    entries: list[AuditEntry] = []
    token = _deferred.set(entries)
    try:
        yield
    finally:
        _deferred.reset(token)
    if entries:
        with transaction.atomic(savepoint=False):
            _chain(entries)
            AuditEntry.objects.bulk_create(entries)


def record_actions(
    *,
    actor: Actor,
    now: dt.datetime,
    actions: Sequence[str],
    subject_type: str,
    subject_id: int | None,
    purpose: str = "",
    fields: Iterable[str] = (),
) -> None:
    """Append one entry per action, in order, about one subject (a request verified and then
    completed in the same step): one read of the tail, one insert."""
    names = list(fields)
    entries = [AuditEntry(**_row(actor, now, action, subject_type, subject_id, purpose, names)) for action in actions]
    pending = _deferred.get()
    if pending is not None:
        pending.extend(entries)
        return
    with transaction.atomic(savepoint=False):
        _chain(entries)
        AuditEntry.objects.bulk_create(entries)


def record_many(
    *,
    actor: Actor,
    now: dt.datetime,
    action: str,
    subject_type: str,
    subject_ids: Iterable[int],
    purpose: str = "",
    fields: Iterable[str] = (),
) -> None:
    """Append one entry per subject (a search result page, an export, an erased batch): one
    read of the tail, the chain computed in memory, one bulk insert."""
    ids = [int(sid) for sid in subject_ids]
    if not ids:
        return
    constant = _row(actor, now, action, subject_type, None, purpose, fields)
    del constant["subject_id"]
    with transaction.atomic(savepoint=False):
        sequence, prev_hash = _tail()
        rows = []
        for sid in ids:
            sequence += 1
            digest = entry_hash({**constant, "subject_id": sid}, sequence=sequence, prev_hash=prev_hash)
            rows.append((sid, sequence, prev_hash, digest))
            prev_hash = digest
        _insert(constant, rows)


def _tail() -> tuple[int, str]:
    """The sequence number and hash of the last entry, read under the chain lock. Must run
    inside a transaction; on PostgreSQL the lock is held until that transaction ends."""
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    last = f"SELECT sequence, hash FROM {table} ORDER BY sequence DESC LIMIT 1"  # noqa: S608 (the model's table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Two statements in one round trip; under READ COMMITTED the second takes its snapshot
            # after the first has the lock, so it sees the previous writer's committed tail.
            cursor.execute(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY}); {last}")
            cursor.nextset()
        else:
            cursor.execute(last)
        tail = cursor.fetchone()
    return (int(tail[0]), str(tail[1])) if tail is not None else (0, GENESIS)


def _chain(entries: list[AuditEntry]) -> None:
    """Number and hash ``entries`` after the current tail."""
    sequence, prev_hash = _tail()
    for entry in entries:
        sequence += 1
        entry.sequence, entry.prev_hash = sequence, prev_hash
        entry.hash = entry_hash(
            {name: getattr(entry, name) for name in CONTENT_FIELDS}, sequence=sequence, prev_hash=prev_hash
        )
        prev_hash = entry.hash


# The columns ``record_many`` writes: the same value on every row, then one value per row.
_SHARED = (
    "at",
    "actor_kind",
    "actor_label",
    "actor_user_id",
    "actor_role",
    "action",
    "purpose",
    "subject_type",
    "fields",
)
_PER_ROW = ("subject_id", "sequence", "prev_hash", "hash")
# PostgreSQL types of the shared values (text, not varchar(n): an over-long value must fail, not be cut).
_PG_TYPES = {"at": "timestamptz", "actor_user_id": "bigint", "fields": "jsonb"}


def _insert(shared: dict[str, object], rows: list[tuple[int, int, str, str]]) -> None:
    """Insert a batch in one statement, without building a model instance per row: on
    PostgreSQL the per-row values travel as four arrays (``unnest``), on SQLite as one
    ``executemany``. Values are adapted by the model's fields, as the ORM would."""
    model_fields = {field.name: field for field in AuditEntry._meta.concrete_fields}
    quote = connection.ops.quote_name
    values = [model_fields[name].get_db_prep_save(shared[name], connection) for name in _SHARED]
    columns = ", ".join(quote(str(model_fields[name].column)) for name in (*_SHARED, *_PER_ROW))
    table = quote(AuditEntry._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            placeholders = ", ".join(f"%s::{_PG_TYPES.get(name, 'text')}" for name in _SHARED)
            per_row = [list(column) for column in zip(*rows, strict=True)]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {placeholders}, v.* "  # noqa: S608 (names from the model)
                "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS v",
                [*values, *per_row],
            )
        else:
            placeholders = ", ".join(["%s"] * (len(_SHARED) + len(_PER_ROW)))
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608 (names from the model)
                [(*values, *row) for row in rows],
            )


def _row(
    actor: Actor,
    now: dt.datetime,
    action: str,
    subject_type: str,
    subject_id: int | None,
    purpose: str,
    fields: Iterable[str],
) -> dict[str, object]:
    return {
        "at": now,
        "actor_kind": actor.kind,
        "actor_label": actor.label,
        "actor_user_id": actor.user_id,
        "actor_role": actor.role or "",
        "action": action,
        "purpose": purpose,
        "subject_type": subject_type,
        # Stored types, so that the hash computed now matches the row read back later.
        "subject_id": None if subject_id is None else int(subject_id),
        "fields": sorted(str(name) for name in fields),
    }
