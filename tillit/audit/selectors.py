"""Reading the audit log: verifying its hash chain, and the privacy officer's filtered view."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

from django.db import connection, transaction

from tillit import policy
from tillit.audit.chain import CONTENT_FIELDS, GENESIS, entry_hash
from tillit.audit.models import AuditEntry
from tillit.core.actors import Actor
from tillit.core.errors import PermissionDeniedError, ValidationError
from tillit.core.pagination import Page, check_page
from tillit.policy import purposes as purpose_rules

BreakKind = Literal["edited", "deleted", "reordered"]

# Rows fetched per round trip while verifying (memory stays bounded by this, not the log size).
VERIFY_CHUNK = 5_000
_VERIFY_COLUMNS = ("sequence", "prev_hash", "hash", *CONTENT_FIELDS)


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the audit chain.

    ``entries`` is the number of entries read. When the chain is broken, ``broken_at`` is the
    sequence number of the first entry that does not fit and ``kind`` says how: ``edited`` (its
    content or hash no longer matches), ``deleted`` (a number is missing) or ``reordered`` (an
    intact entry stands in another entry's place). ``last_sequence``/``last_hash`` name the
    head of an intact chain, to be noted outside the database as an anchor.
    """

    entries: int
    broken_at: int | None = None
    kind: BreakKind | None = None
    last_sequence: int = 0
    last_hash: str = GENESIS

    @property
    def is_intact(self) -> bool:
        return self.broken_at is None


def verify_chain(
    *, anchor: tuple[int, str] | None = None, progress: Callable[[int, int], None] | None = None
) -> ChainReport:
    """Check every entry, in sequence order, streamed in chunks: numbers run 1, 2, 3 ... without
    gaps, each entry's hash matches its content, and each links to the hash before it.

    Reports the first break. Deleting the newest entries, or rewriting an entry together with
    every hash after it, cannot be seen from inside the database alone: ``anchor`` is a
    (sequence, hash) noted outside it earlier (a previous report's head), and the chain must
    still hold that entry unchanged. ``progress(done, total)`` is called after each chunk.
    """
    total = AuditEntry.objects.count() if progress else 0
    # On PostgreSQL a transaction lets the server-side cursor stream (outside one, Django
    # declares it WITH HOLD and the server materialises every row first). Not on SQLite: there
    # the IMMEDIATE transaction mode would take the write lock and stall every writer.
    reading = transaction.atomic() if connection.vendor == "postgresql" else contextlib.nullcontext()
    with reading, contextlib.closing(_stream()) as rows:
        return _check(rows, anchor=anchor, progress=progress, total=total)


def _resume(sequence: int) -> ChainReport | tuple[int, str]:
    """Where the chain starts when its first entry is ``sequence``: at 1 from ``GENESIS``, or
    after a signed pruning checkpoint (``tillit.audit.pruning``); a report of the deleted
    entries when neither holds."""
    from tillit.audit import pruning

    if sequence == 1:
        return 1, GENESIS
    resumed = pruning.checkpoint_before(sequence)
    if resumed is None:
        return ChainReport(entries=1, broken_at=pruning.last_proven_cut() + 1, kind="deleted")
    return sequence, resumed


def _check(
    rows: Generator[dict[str, Any], None, None],
    *,
    anchor: tuple[int, str] | None,
    progress: Callable[[int, int], None] | None,
    total: int,
) -> ChainReport:
    expected, running, seen = 1, GENESIS, 0
    if progress:
        progress(0, total)
    for row in rows:
        seen += 1
        if seen == 1:
            # Entries pruned past their period leave a signed checkpoint to start from.
            start = _resume(row["sequence"])
            if isinstance(start, ChainReport):
                return start
            expected, running = start
        if progress and seen % VERIFY_CHUNK == 0:
            progress(seen, max(total, seen))
        sequence = row["sequence"]
        if sequence != expected:
            # Numbers only ever grow by one; a missing number is a deleted entry.
            return ChainReport(entries=seen, broken_at=expected, kind="deleted")
        is_whole = entry_hash(row, sequence=sequence, prev_hash=row["prev_hash"]) == row["hash"]
        if is_whole and row["prev_hash"] == running:
            if anchor is not None and anchor[0] == sequence and anchor[1] != row["hash"]:
                return ChainReport(entries=seen, broken_at=sequence, kind="edited")  # rewritten from here on
            running, expected = row["hash"], expected + 1
            continue
        if row["prev_hash"] == running or is_whole:
            # Its content or hash was changed (or the one before it was rewritten and rehashed).
            return ChainReport(entries=seen, broken_at=sequence, kind="edited")
        if entry_hash(row, sequence=sequence, prev_hash=running) == row["hash"]:
            return ChainReport(entries=seen, broken_at=sequence, kind="edited")  # only prev_hash changed
        # Neither its place nor its link fits: it was moved here if the entry it follows
        # comes later; otherwise the entries it followed are gone and the rest renumbered.
        wanted = row["prev_hash"]
        kind: BreakKind = "deleted"
        for later in rows:
            seen += 1
            if later["hash"] == wanted:
                kind = "reordered"
                break
        return ChainReport(entries=seen, broken_at=sequence, kind=kind)
    if progress:
        progress(seen, max(total, seen))
    if seen == 0 and _was_pruned():
        return ChainReport(entries=0, broken_at=1, kind="deleted")  # pruning always keeps the head
    if anchor is not None and anchor[0] >= expected:
        return ChainReport(entries=seen, broken_at=expected, kind="deleted")  # the newest entries are gone
    return ChainReport(entries=seen, last_sequence=expected - 1, last_hash=running)


def _was_pruned() -> bool:
    from tillit.audit.models import AuditCheckpoint

    return AuditCheckpoint.objects.exists()


def _stream() -> Generator[dict[str, Any], None, None]:
    yield from AuditEntry.objects.order_by("sequence").values(*_VERIFY_COLUMNS).iterator(chunk_size=VERIFY_CHUNK)


def require_audit_log_access(actor: Actor) -> None:
    """Raise ``PermissionDeniedError`` unless the actor's role has the ``audit_log`` tool."""
    if not purpose_rules.may_use_tool(policy.current(), actor.role, "audit_log"):
        raise PermissionDeniedError("your role may not read the audit log")


def audit_entries(
    *,
    actor: Actor,
    person_id: int | None = None,
    staff_user_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    page: int,
    page_size: int,
) -> Page[dict[str, Any]]:
    """Entries newest first, for roles whose tools include ``audit_log`` (the privacy officer).

    Filters: ``person_id`` (entries about that person), ``staff_user_id`` (entries by that staff
    member, or by an API client acting for them), ``since`` (inclusive) and ``until``
    (exclusive). Entries hold ids and field names only, so no personal values are shown.
    """
    require_audit_log_access(actor)
    offset, limit = check_page(page, page_size)
    if since is not None and until is not None and since >= until:
        raise ValidationError("the start must be before the end", field="since")
    entries = AuditEntry.objects.all()
    if person_id is not None:
        entries = entries.filter(subject_type="person", subject_id=person_id)
    if staff_user_id is not None:
        entries = entries.filter(actor_user_id=staff_user_id)
    if since is not None:
        entries = entries.filter(at__gte=since)
    if until is not None:
        entries = entries.filter(at__lt=until)
    columns = ("sequence", *CONTENT_FIELDS)
    rows = list(entries.order_by("-sequence").values(*columns)[offset : offset + limit + 1])
    return Page(items=rows[:limit], page=page, page_size=limit, has_next=len(rows) > limit)
