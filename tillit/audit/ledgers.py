"""Seals on the append-only ledgers: the consent ledger, the cookie choices and the disclosure
ledger are tamper-evident, like the audit log.

Each entry gets a seal (``LedgerSeal``) in the transaction that writes it: a keyed hash
(HMAC-SHA256, with a key derived from ``TILLIT_IDENTIFIER_KEY``, which is not in the database)
of the entry's content, its id, its place in its scope's chain (``seq``) and the seal before
it. Scopes are small, so appending never waits on a global lock: the consent ledger is chained
per person (whose row the writer already holds locked), cookie choices per browser (a keyed
hash of its id), disclosures per partner, and the people of a disclosure per disclosure.

``tillit verify`` (``problems``) then reports, with the entry's id:
- ``ledger_entry_altered``: the content no longer matches the seal (a rewritten wording, a
  moved date, any edited column);
- ``ledger_entry_deleted``: a sealed entry is gone and no valid removal mark says why;
- ``ledger_entry_inserted``: an entry without a seal (written past the services);
- ``ledger_chain_broken``: a seal missing, added or out of place in its chain.

The database refuses UPDATE and DELETE on the seals and the removal marks, UPDATE on every
ledger, and DELETE on every ledger except the consent ledger's rows that have a removal mark
(``LedgerRemoval``): erasure (and a merge, which copies the entries to the kept person first)
writes the keyed mark, then deletes. The seal stays as a tombstone, so the chain survives.

Forging needs the key: without it no seal or mark can be made, so an entry cannot be edited,
added or quietly removed. Deleting the newest entries of a scope together with their seals
(which needs the seal table's trigger dropped too) is not seen, as with the audit log's head.

Sealing is set-based per chunk: one query for the entries, one for the tails of their
scopes, the hashes in memory, one bulk insert. ``seal`` with no ids seals every entry not yet
sealed: the bulk loaders (demo data, benchmarks) call it once after writing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, models
from django.db.models import Exists, OuterRef, Subquery

from tillit.audit.chain import GENESIS, canonical_at
from tillit.audit.models import LedgerRemoval, LedgerSeal

CHUNK = 2_000


def _key() -> bytes:
    return _derived_key(settings.TILLIT_IDENTIFIER_KEY)


@functools.lru_cache(maxsize=4)
def _derived_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"tillit.ledger-seal", hashlib.sha256).digest()


def _person_scope(row: dict[str, Any]) -> str:
    return str(row["person_id"])


def _browser_scope(row: dict[str, Any]) -> str:
    # A keyed hash: the browser id is an online identifier and the seal outlives everything.
    return hmac.new(_key(), f"browser:{row['browser_id']}".encode(), hashlib.sha256).hexdigest()[:40]


@dataclass(frozen=True)
class Ledger:
    """One sealed ledger: its model, what a scope is, and the columns its seal covers (a stored
    contract: every seal was computed over exactly these; a new column is not sealed)."""

    name: str
    model_label: str
    scope_columns: tuple[str, ...]
    scope: Callable[[dict[str, Any]], str]
    content: tuple[str, ...]
    # May erasure delete its rows (with a removal mark)?
    erasable: bool = False

    @property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.model_label)


LEDGERS: dict[str, Ledger] = {
    ledger.name: ledger
    for ledger in (
        Ledger(
            "consent",
            "consent.ConsentEvent",
            ("person_id",),
            _person_scope,
            (
                "person_id",
                "purpose",
                "channel",
                "action",
                "basis",
                "occurred_at",
                "source_kind",
                "source_ref",
                "wording",
                "language",
                "notice_version_id",
                "evidence_ip",
                "evidence_user_agent",
            ),
            erasable=True,
        ),
        Ledger(
            "cookie_choice",
            "consent.CookieChoice",
            ("browser_id",),
            _browser_scope,
            (
                "browser_id",
                "categories",
                "notice_version_id",
                "wording_id",
                "language",
                "gpc",
                "chosen_at",
                "evidence_ip",
                "evidence_user_agent",
            ),
        ),
        Ledger(
            "disclosure",
            "sharing.Disclosure",
            ("partner_id",),
            lambda row: str(row["partner_id"]),
            (
                "reference",
                "partner_id",
                "dialogue_id",
                "event_id",
                "basis",
                "purpose",
                "channel",
                "categories",
                "people",
                "disclosed_at",
                "staff_user_id",
                "actor_label",
                "actor_role",
            ),
        ),
        Ledger(
            "disclosed_person",
            "sharing.DisclosedPerson",
            ("disclosure_id",),
            lambda row: str(row["disclosure_id"]),
            ("disclosure_id", "pseudonym", "categories"),
        ),
    )
}


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return canonical_at(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _digest(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hmac.new(_key(), text.encode("ascii"), hashlib.sha256).hexdigest()


def entry_seal(ledger: Ledger, row: dict[str, Any], *, scope: str, seq: int, prev_seal: str) -> str:
    """The seal of one entry (``row`` holds ``id`` and the ledger's content columns, as read
    back from the database)."""
    content = {name: _canonical(row[name]) for name in ledger.content}
    return _digest(
        {
            "ledger": ledger.name,
            "entry": int(row["id"]),
            "scope": scope,
            "seq": seq,
            "prev": prev_seal,
            "content": content,
        }
    )


def removal_mark(*, ledger: str, entry_id: int, scope: str, reason: str, removed_at: dt.datetime) -> str:
    return _digest(
        {"removal": ledger, "entry": int(entry_id), "scope": scope, "reason": reason, "at": canonical_at(removed_at)}
    )


def _lock_scopes(ledger: Ledger, scopes: Iterable[str]) -> None:
    """On PostgreSQL, one transaction-level advisory lock per scope, so two writers of the same
    scope (two clicks of one browser) cannot both read the same tail. SQLite's write lock
    already serialises writers."""
    if connection.vendor != "postgresql":
        return
    keys = [
        int.from_bytes(hashlib.sha256(f"tillit:ledger:{ledger.name}:{s}".encode()).digest()[:8], "big", signed=True)
        for s in sorted(set(scopes))
    ]
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _tails(ledger: Ledger, scopes: Sequence[str]) -> dict[str, tuple[int, str]]:
    """The last (seq, seal) of each scope that has one."""
    latest = LedgerSeal.objects.filter(ledger=ledger.name, scope=OuterRef("scope")).order_by("-seq").values("seq")[:1]
    rows = LedgerSeal.objects.filter(ledger=ledger.name, scope__in=list(scopes), seq=Subquery(latest)).values_list(
        "scope", "seq", "seal"
    )
    return {scope: (seq, seal) for scope, seq, seal in rows}


def _unsealed(ledger: Ledger) -> models.QuerySet[Any]:
    sealed = LedgerSeal.objects.filter(ledger=ledger.name, entry_id=OuterRef("pk"))
    return ledger.model._default_manager.filter(~Exists(sealed))


def seal(
    ledger_name: str,
    *,
    ids: Sequence[int] | None = None,
    where: dict[str, Any] | None = None,
    lock: bool = False,
) -> int:
    """Seal the ledger's entries not sealed yet (those with ``ids``, or matching ``where``, or
    all), in id order, each after the tail of its scope. Call inside the transaction that wrote
    them. ``lock``: take each scope's lock first (a writer that holds no row lock on the scope).
    Returns how many were sealed."""
    ledger = LEDGERS[ledger_name]
    pending = _unsealed(ledger)
    if ids is not None:
        if not ids:
            return 0
        pending = pending.filter(pk__in=list(ids))
    if where:
        pending = pending.filter(**where)
    columns = sorted({"id", *ledger.content, *ledger.scope_columns})
    done, last_id = 0, 0
    while True:
        rows = list(pending.filter(pk__gt=last_id).order_by("pk").values(*columns)[:CHUNK])
        if not rows:
            return done
        scopes = [ledger.scope(row) for row in rows]
        if lock:
            _lock_scopes(ledger, scopes)
        tails = _tails(ledger, sorted(set(scopes)))
        seals: list[tuple[str, int, str, int, str, str]] = []
        for row, scope in zip(rows, scopes, strict=True):
            seq, prev = tails.get(scope, (0, GENESIS))
            seq += 1
            digest = entry_seal(ledger, row, scope=scope, seq=seq, prev_seal=prev)
            seals.append((ledger.name, row["id"], scope, seq, prev, digest))
            tails[scope] = (seq, digest)
        _insert_seals(seals)
        done += len(rows)
        last_id = rows[-1]["id"]
        if len(rows) < CHUNK:
            return done


def _insert_seals(rows: list[tuple[str, int, str, int, str, str]]) -> None:
    """One INSERT for the chunk, without a model instance per row."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in ("ledger", "entry_id", "scope", "seq", "prev_seal", "seal"))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {quote(LedgerSeal._meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608 (names from the model)
            rows,
        )


def mark_for_removal(ledger_name: str, *, scopes: Sequence[Any], reason: str, now: dt.datetime) -> int:
    """Write the removal mark of every entry of the ledger in ``scopes`` (person ids), so that
    the caller (erasure, a merge) may then delete them in the same transaction. Returns how
    many were marked."""
    ledger = LEDGERS[ledger_name]
    if not ledger.erasable:
        raise ValueError(f"the {ledger.name} ledger is never erased")
    if not scopes:
        return 0
    (column,) = ledger.scope_columns
    done = 0
    for start in range(0, len(scopes), CHUNK):
        part = list(scopes[start : start + CHUNK])
        already = LedgerRemoval.objects.filter(ledger=ledger.name, entry_id=OuterRef("pk"))
        rows = (
            ledger.model._default_manager.filter(**{f"{column}__in": part})
            .filter(~Exists(already))
            .order_by("pk")
            .values("id", column)
        )
        marks = []
        for row in rows.iterator(chunk_size=CHUNK):
            scope = ledger.scope(row)
            marks.append(
                LedgerRemoval(
                    ledger=ledger.name,
                    entry_id=row["id"],
                    scope=scope,
                    reason=reason,
                    removed_at=now,
                    mark=removal_mark(
                        ledger=ledger.name, entry_id=row["id"], scope=scope, reason=reason, removed_at=now
                    ),
                )
            )
        LedgerRemoval.objects.bulk_create(marks, batch_size=CHUNK)
        done += len(marks)
    return done


# --- verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    kind: str  # ledger_entry_altered, ledger_entry_deleted, ledger_entry_inserted, ledger_chain_broken
    ledger: str
    entry_id: int
    detail: str


def problems() -> Iterator[Problem]:
    """Every entry of every sealed ledger whose seal, chain or removal does not hold, streamed
    in chunks (bounded memory): each seal in scope order with its entry and removal mark, then
    the entries without a seal."""
    for ledger in LEDGERS.values():
        yield from _check_seals(ledger)
        unsealed = _unsealed(ledger).order_by("pk").values_list("pk", flat=True)
        for entry_id in unsealed.iterator(chunk_size=CHUNK):
            yield Problem(
                "ledger_entry_inserted",
                ledger.name,
                entry_id,
                "an entry without a seal: written past the ledger's path",
            )


def _check_seals(ledger: Ledger) -> Iterator[Problem]:
    columns = sorted({"id", *ledger.content, *ledger.scope_columns})
    previous: tuple[str, int, str] | None = None  # scope, seq, seal
    after: tuple[str, int] = ("", 0)
    while True:
        scope_after, seq_after = after
        chunk = list(
            LedgerSeal.objects.filter(ledger=ledger.name)
            .filter(models.Q(scope__gt=scope_after) | models.Q(scope=scope_after, seq__gt=seq_after))
            .order_by("scope", "seq")
            .values("entry_id", "scope", "seq", "prev_seal", "seal")[:CHUNK]
        )
        if not chunk:
            return
        ids = [s["entry_id"] for s in chunk]
        entries = {row["id"]: row for row in ledger.model._default_manager.filter(pk__in=ids).values(*columns)}
        removals = {
            r["entry_id"]: r
            for r in LedgerRemoval.objects.filter(ledger=ledger.name, entry_id__in=ids).values(
                "entry_id", "scope", "reason", "removed_at", "mark"
            )
        }
        for s in chunk:
            entry_id, scope, seq = s["entry_id"], s["scope"], s["seq"]
            if previous is not None and previous[0] == scope:
                expected_seq, expected_prev = previous[1] + 1, previous[2]
            else:
                expected_seq, expected_prev = 1, GENESIS
            if seq != expected_seq or s["prev_seal"] != expected_prev:
                yield Problem(
                    "ledger_chain_broken",
                    ledger.name,
                    entry_id,
                    f"seal {seq} of its chain does not follow seal {expected_seq - 1} (a seal was removed or added)",
                )
            row = entries.get(entry_id)
            if row is not None:
                if (
                    ledger.scope(row) != scope
                    or entry_seal(ledger, row, scope=scope, seq=seq, prev_seal=s["prev_seal"]) != s["seal"]
                ):
                    yield Problem(
                        "ledger_entry_altered",
                        ledger.name,
                        entry_id,
                        "its content no longer matches its seal (an edited wording, date or other column)",
                    )
            else:
                removal = removals.get(entry_id)
                if removal is None:
                    yield Problem("ledger_entry_deleted", ledger.name, entry_id, "deleted without a removal mark")
                elif (
                    removal["mark"]
                    != removal_mark(
                        ledger=ledger.name,
                        entry_id=entry_id,
                        scope=removal["scope"],
                        reason=removal["reason"],
                        removed_at=removal["removed_at"],
                    )
                    or not ledger.erasable
                ):
                    yield Problem("ledger_entry_deleted", ledger.name, entry_id, "deleted under a forged removal mark")
            previous = (scope, seq, s["seal"])
        after = (chunk[-1]["scope"], chunk[-1]["seq"])


# --- flush -------------------------------------------------------------------------------------


@contextlib.contextmanager
def delete_guards_lifted(db: Any) -> Iterator[None]:
    """SQLite only: drop every BEFORE DELETE trigger for the block and create them again after
    it. ``flush`` (which empties every table, row by row on SQLite) runs inside; PostgreSQL's
    flush truncates, which row triggers do not see."""
    if db.vendor != "sqlite":
        yield
        return
    with db.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%BEFORE DELETE%'")
        triggers = cursor.fetchall()
        for name, _sql in triggers:
            cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')
    try:
        yield
    finally:
        with db.cursor() as cursor:
            for _name, sql in triggers:
                cursor.execute(sql)
