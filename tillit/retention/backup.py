"""Backups that never bring back what was erased or withdrawn (checklist: erasure must reach
backups).

``write_backup`` writes one compressed file holding a consistent copy of the database (a
``pg_dump`` custom-format archive on PostgreSQL, taken in one exported snapshot; SQLite's
online backup API otherwise) and a manifest saying when it was taken, from which database,
and where the *journal* stood in it: the PostgreSQL snapshot itself, or on SQLite the last
journal entry the copy holds.

A backup restored as it is would bring back everyone erased after it was taken, and every
consent withdrawn, objection made and subscription ended since. So ``restore_backup``:

1. refuses while workers or other sessions run (their writes would be lost, or missed);
2. collects the journal since the backup *by commit order* (``retention.JournalEntry``,
   written by the database in the transaction of each change: the entries the backup's
   snapshot could not see), reading the rows it names: erasure receipts, suppression entries,
   consent ledger entries and subscriptions;
3. writes it to a file (``DATA_DIR/restore/``) *before* the destructive step, merged with the
   file of an earlier attempt at the same backup, so a retry after a failure half-way replays
   it from there instead of reading the restored database;
4. restores the copy, migrates it and re-applies the journal: the ledger entries and
   subscription states go back in, and everyone a receipt names (by pseudonym, or by the keyed
   hash of an email address or phone number) is erased again through the one erasure path;
5. removes the file once everything is re-applied.

A journal holds no personal data: pseudonyms, keyed hashes, the ledger's wording and times
(not the evidence IP address or user agent). Keyed hashes are enough to find a person, not to
read them.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

from tillit.audit import ledgers
from tillit.consent.models import (
    ConsentEvent,
    CookieBannerWording,
    CookieChoice,
    NoticeVersion,
    Subscription,
    SuppressionEntry,
)
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, ValidationError
from tillit.core.identifiers import identifier_digests
from tillit.people.models import Person
from tillit.retention.journal import JOURNAL_TABLE, RESTORED_KINDS
from tillit.retention.models import ErasureReceipt, JournalEntry

FORMAT = 2
# Format 1 backups did not record where the journal stood: their restore replays all of it.
READABLE_FORMATS = (1, 2)
MANIFEST = "manifest.json"
JOURNAL_FORMAT = 2
BATCH = 1_000

RECEIPT_FIELDS = ("pseudonym", "batch", "erased_at", "reason", "rule", "counts", "actor_label", "identifier_digests")
SUPPRESSION_FIELDS = ("digest", "channel", "reason", "created_at")
CONSENT_FIELDS = (
    "pseudonym",
    "purpose",
    "channel",
    "action",
    "basis",
    "occurred_at",
    "source_kind",
    "source_ref",
    "wording",
    "language",
    "notice",
)
SUBSCRIPTION_FIELDS = ("pseudonym", "newsletter", "subscribed_at", "unsubscribed_at")
COOKIE_FIELDS = ("browser_id", "categories", "language", "gpc", "chosen_at")
SECTIONS = ("receipts", "suppressions", "consents", "subscriptions", "cookies", "notices", "wordings")
# Values that JSON does not carry as themselves, per section of a journal file.
_MOMENTS = {
    "receipts": ("erased_at",),
    "suppressions": ("created_at",),
    "consents": ("occurred_at",),
    "subscriptions": ("subscribed_at", "unsubscribed_at"),
    "cookies": ("chosen_at",),
    "wordings": ("first_shown_at",),
}
_UUIDS = {
    "receipts": ("pseudonym", "batch"),
    "consents": ("pseudonym",),
    "subscriptions": ("pseudonym",),
    "cookies": ("browser_id",),
}


class BackupError(ConflictError):
    code = "backup_failed"


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    taken_at: dt.datetime
    vendor: str
    size: int


@dataclass
class Journal:
    """What a restore must re-apply, as plain values: the erasure receipts, suppression
    entries, consent ledger entries and subscription states written since a backup
    (``boundary``: where the journal stood in it; None for all of it)."""

    boundary: dict[str, Any] | None
    receipts: list[dict[str, Any]] = field(default_factory=list)
    suppressions: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    cookies: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    wordings: list[dict[str, Any]] = field(default_factory=list)

    def merged(self, other: Journal) -> Journal:
        """Both journals in one, each change once (``other``'s subscription states win: it is
        the newer read)."""

        def union(
            mine: list[dict[str, Any]], theirs: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]
        ) -> list[dict[str, Any]]:
            rows = {key(row): row for row in mine}
            rows.update({key(row): row for row in theirs})
            return list(rows.values())

        return Journal(
            boundary=self.boundary if self.boundary is not None else other.boundary,
            receipts=union(self.receipts, other.receipts, lambda r: (r["pseudonym"], r["batch"])),
            suppressions=union(self.suppressions, other.suppressions, lambda s: s["digest"]),
            consents=union(
                self.consents,
                other.consents,
                lambda c: (c["pseudonym"], c["purpose"], c["channel"], c["action"], c["occurred_at"]),
            ),
            subscriptions=union(self.subscriptions, other.subscriptions, lambda s: (s["pseudonym"], s["newsletter"])),
            cookies=union(self.cookies, other.cookies, lambda c: (c["browser_id"], c["chosen_at"])),
            notices=union(self.notices, other.notices, lambda n: n["digest"]),
            wordings=union(self.wordings, other.wordings, lambda w: w["digest"]),
        )

    def describe(self) -> str:
        return (
            f"{len(self.receipts)} erasure receipts, {len(self.suppressions)} suppressions, "
            f"{len(self.consents)} consent ledger entries, {len(self.subscriptions)} subscription changes, "
            f"{len(self.cookies)} cookie choices"
        )


@dataclass
class RestoreSummary:
    taken_at: dt.datetime
    receipts_restored: int = 0
    suppressions_restored: int = 0
    consents_restored: int = 0
    subscriptions_restored: int = 0
    cookie_choices_restored: int = 0
    erased_again: int = 0


# --- writing --------------------------------------------------------------------------------


def write_backup(*, now: dt.datetime, path: Path) -> BackupSummary:
    """Write a consistent, compressed backup of the whole database to ``path`` (a tar file)."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise ValidationError("is a directory; give a file name", field="path")
    vendor = connection.vendor
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "id": str(uuid.uuid4()),
        "taken_at": now.isoformat(),
        "vendor": vendor,
        "migrations": _applied_migrations(),
    }
    with tempfile.TemporaryDirectory(prefix="tillit-backup-") as scratch:
        dump = Path(scratch) / ("database.pgdump" if vendor == "postgresql" else "database.sqlite3.gz")
        manifest["journal"] = _pg_dump(dump) if vendor == "postgresql" else _sqlite_dump(dump)
        partial = path.with_name(path.name + ".partial")
        with tarfile.open(partial, "w") as archive:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            info.mtime = int(now.timestamp())
            archive.addfile(info, io.BytesIO(data))
            archive.add(dump, arcname=dump.name)
        os.replace(partial, path)  # a backup file is either whole or absent
    return BackupSummary(path=path, taken_at=now, vendor=vendor, size=path.stat().st_size)


def _applied_migrations() -> dict[str, str]:
    from django.db.migrations.recorder import MigrationRecorder

    latest: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        latest[app] = max(latest.get(app, ""), name)
    return dict(sorted(latest.items()))


def _pg_env() -> tuple[list[str], dict[str, str]]:
    db = connection.settings_dict
    args = ["-h", str(db.get("HOST") or "127.0.0.1"), "-p", str(db.get("PORT") or 5432)]
    if db.get("USER"):
        args += ["-U", str(db["USER"])]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return args, env


def _run(command: list[str], env: dict[str, str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL client tools are needed)")
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no message"])[0]
        raise BackupError(f"{command[0]} failed: {first}")


def _pg_dump(target: Path) -> dict[str, Any]:
    """Dump the database in a snapshot exported by our own transaction, and return that
    snapshot: the journal since the backup is every entry whose transaction it cannot see."""
    if connection.in_atomic_block:
        raise BackupError("a backup cannot be taken inside a transaction")
    args, env = _pg_env()
    connection.ensure_connection()
    raw = connection.connection
    raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    try:
        row = raw.execute("SELECT pg_export_snapshot(), pg_current_snapshot()::text").fetchone()
        assert row is not None
        name, snapshot = row
        # Custom format: compressed, and in our snapshot (consistent while the system runs).
        _run(
            ["pg_dump", *args, "-Fc", "-Z", "6", "--snapshot", name, "-f", str(target),
             str(connection.settings_dict["NAME"])],
            env,
        )  # fmt: skip
    finally:
        raw.execute("ROLLBACK")
    return {"snapshot": snapshot}


def _sqlite_dump(target: Path) -> dict[str, Any]:
    """Copy the database and return the last journal entry the copy holds (one writer commits
    at a time, so every later entry has a higher id)."""
    source = sqlite3.connect(str(connection.settings_dict["NAME"]))
    copy = target.with_suffix("")
    try:
        destination = sqlite3.connect(str(copy))
        with destination:
            source.backup(destination)  # SQLite's online backup: a consistent copy
        (after_id,) = destination.execute(f"SELECT COALESCE(MAX(id), 0) FROM {JOURNAL_TABLE}").fetchone()  # noqa: S608
        destination.close()
    finally:
        source.close()
    with open(copy, "rb") as raw, gzip.open(target, "wb", compresslevel=6) as packed:
        shutil.copyfileobj(raw, packed, 1 << 20)
    copy.unlink()
    return {"after_id": int(after_id)}


# --- the journal ----------------------------------------------------------------------------


def _changed_since(boundary: dict[str, Any] | None) -> Iterator[tuple[str, int]]:
    """(kind, row id) of every journal entry the backup described by ``boundary`` does not
    hold, by commit order: on PostgreSQL the entries whose transaction the backup's snapshot
    could not see (still running when it was taken, or begun after); on SQLite the entries
    after the last one in the copy."""
    entries = JournalEntry.objects.filter(kind__in=RESTORED_KINDS).order_by("pk")
    if boundary is None:
        pass
    elif "snapshot" in boundary:
        if connection.vendor != "postgresql":
            raise ValidationError("a PostgreSQL journal boundary on another database", field="journal")
        snapshot = str(boundary["snapshot"])
        horizon = int(snapshot.split(":", 1)[0])  # every transaction below it had ended
        entries = entries.filter(txid__gte=horizon).alias(seen=_visible_in(snapshot)).filter(seen=False)
    else:
        entries = entries.filter(pk__gt=int(boundary["after_id"]))
    yield from entries.values_list("kind", "ref_id").iterator(chunk_size=5_000)


def _visible_in(snapshot: str) -> RawSQL:
    """Whether a journal entry's transaction had committed when ``snapshot`` was taken."""
    return RawSQL(
        "pg_visible_in_snapshot((txid::text)::xid8, %s::pg_snapshot)", [snapshot], output_field=BooleanField()
    )


def _chunks(ids: Iterable[Any], size: int = BATCH) -> Iterator[list[Any]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def erasure_journal(*, boundary: dict[str, Any] | None) -> Journal:
    """The journal since a backup: the receipts, suppression entries, ledger entries and
    subscription states the backup does not hold (nothing personal), read from this database."""
    refs: dict[str, set[int]] = defaultdict(set)
    for kind, ref_id in _changed_since(boundary):
        refs[kind].add(ref_id)
    journal = Journal(boundary=boundary)
    for ids in _chunks(refs["receipt"]):
        journal.receipts += [dict(r) for r in ErasureReceipt.objects.filter(pk__in=ids).values(*RECEIPT_FIELDS)]
    for ids in _chunks(refs["suppression"]):
        journal.suppressions += [
            dict(s) for s in SuppressionEntry.objects.filter(pk__in=ids).values(*SUPPRESSION_FIELDS)
        ]
    notices: set[str] = set()
    for ids in _chunks(refs["consent"]):
        for row in (
            ConsentEvent.objects.filter(pk__in=ids)
            .order_by("pk")
            .values("person__pseudonym", "notice_version__digest", *CONSENT_FIELDS[1:-1])
        ):
            journal.consents.append(
                {"pseudonym": row.pop("person__pseudonym"), "notice": row.pop("notice_version__digest"), **row}
            )
            notices.add(journal.consents[-1]["notice"])
    for ids in _chunks(refs["cookie"]):
        for row in (
            CookieChoice.objects.filter(pk__in=ids)
            .order_by("pk")
            .values("notice_version__digest", "wording__digest", *COOKIE_FIELDS)
        ):
            journal.cookies.append(
                {"notice": row.pop("notice_version__digest"), "wording": row.pop("wording__digest"), **row}
            )
            notices.add(journal.cookies[-1]["notice"])
    wordings = {c["wording"] for c in journal.cookies}
    journal.wordings = [
        dict(w)
        for w in CookieBannerWording.objects.filter(digest__in=wordings).values(
            "digest", "language", "texts", "first_shown_at"
        )
    ]
    # Plain values only: a link to another table could name a row the restored database lacks.
    columns = [f.attname for f in NoticeVersion._meta.concrete_fields if not (f.primary_key or f.is_relation)]
    journal.notices = [dict(n) for n in NoticeVersion.objects.filter(digest__in=notices).values(*columns)]
    for ids in _chunks(refs["subscription"]):
        journal.subscriptions += [
            {"pseudonym": pseudonym, "newsletter": newsletter, "subscribed_at": since, "unsubscribed_at": until}
            for pseudonym, newsletter, since, until in Subscription.objects.filter(pk__in=ids).values_list(
                "person__pseudonym", "newsletter", "subscribed_at", "unsubscribed_at"
            )
        ]
    return journal


def prune_journal(*, oldest: dict[str, Any]) -> int:
    """Delete the journal entries that ``oldest`` (the manifest of the oldest backup still
    kept) already holds, and the claims of sends that no longer exist: no restore needs them.
    In chunks; returns how many went."""
    boundary = oldest["journal"]
    if boundary is None:
        raise ValidationError("a backup that does not record where the journal stood", field="path")
    held = JournalEntry.objects.filter(kind__in=RESTORED_KINDS)
    if "snapshot" in boundary:
        if connection.vendor != "postgresql":
            raise ValidationError("a PostgreSQL backup on another database", field="path")
        held = held.alias(seen=_visible_in(str(boundary["snapshot"]))).filter(seen=True)
    else:
        held = held.filter(pk__lte=int(boundary["after_id"]))
    from django.apps import apps

    sends = apps.get_model("marketing", "SendRecord")
    orphans = JournalEntry.objects.filter(kind="claim").exclude(ref_id__in=sends.objects.values("pk"))
    deleted = 0
    for entries in (held, orphans):
        while ids := list(entries.order_by("pk").values_list("pk", flat=True)[:BATCH]):
            deleted += JournalEntry.objects.filter(pk__in=ids).delete()[0]
    return deleted


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def export_journal(journal: Journal, path: Path) -> None:
    """Write a journal as JSON, whole or not at all (written beside, flushed to disk, then
    renamed): to keep off-site beside the backups, and before a restore's destructive step."""
    data = {
        "format": JOURNAL_FORMAT,
        "boundary": journal.boundary,
        **{
            section: [{k: _plain(v) for k, v in row.items()} for row in getattr(journal, section)]
            for section in SECTIONS
        },
    }
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def _typed(section: str, row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    for name in _MOMENTS.get(section, ()):
        if row.get(name):
            row[name] = dt.datetime.fromisoformat(row[name])
    for name in _UUIDS.get(section, ()):
        if row.get(name):
            row[name] = uuid.UUID(row[name])
    if section == "notices":
        for f in NoticeVersion._meta.concrete_fields:
            if f.get_internal_type() == "DateTimeField" and isinstance(row.get(f.attname), str):
                row[f.attname] = dt.datetime.fromisoformat(row[f.attname])
    return row


def load_journal(path: Path) -> Journal:
    """Read a journal written by ``export_journal``; a file that is not one fails with a message."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") not in (1, JOURNAL_FORMAT):
            raise ValueError("unknown format")
        sections = {section: [_typed(section, row) for row in data.get(section, [])] for section in SECTIONS}
        if data["format"] == 1:
            # A format 1 journal held the receipts and suppressions since a moment; replaying
            # them is idempotent, so they are simply all of it.
            data["boundary"] = None
            if not {"receipts", "suppressions", "since"} <= set(data):
                raise KeyError("receipts, suppressions or since")
        return Journal(boundary=data["boundary"], **sections)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise ValidationError(f"not an erasure journal written by tillit ({reason})", field="journal") from None


# --- restoring ------------------------------------------------------------------------------


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a backup file; a file that is not a tillit backup fails with a message."""
    try:
        with tarfile.open(path, "r") as archive:
            member = archive.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(member.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0].rstrip(":")
        raise ValidationError(f"not a tillit backup ({reason})", field="path") from None
    if manifest.get("format") not in READABLE_FORMATS:
        raise ValidationError("a backup in a format this version cannot read", field="path")
    manifest["taken_at"] = dt.datetime.fromisoformat(manifest["taken_at"])
    manifest.setdefault("journal", None)
    return manifest


def journal_since(manifest: dict[str, Any]) -> Journal:
    """The journal since the backup a manifest describes, from this database."""
    return erasure_journal(boundary=manifest["journal"])


def pending_journal_path(manifest: dict[str, Any]) -> Path:
    """Where a restore of this backup keeps its journal until it has finished."""
    key = (
        manifest.get("id")
        or hashlib.sha256(f"{manifest['taken_at'].isoformat()}:{manifest['vendor']}".encode()).hexdigest()[:32]
    )
    return Path(settings.DATA_DIR) / "restore" / f"journal-{key}.json"


def workers_running() -> str | None:
    """Why a restore may not run now (a background task running, or on PostgreSQL another
    session on the database: a web process, a worker, the scheduler), or None."""
    from django_tasks_db.models import DBTaskResult

    try:
        running = DBTaskResult.objects.filter(status="RUNNING").count()
    except DatabaseError:  # a database without the task table (lost, rebuilt empty) runs none
        connection.close()
        running = 0
    if running:
        return f"{running} background task(s) are running"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            (sessions,) = cursor.fetchone()
        if sessions:
            return f"{sessions} other session(s) are connected to the database"
    return None


def restore_backup(
    *,
    actor: Actor,
    now: dt.datetime,
    path: Path,
    journal: Journal | None = None,
    progress: Callable[[str], None] | None = None,
) -> RestoreSummary:
    """Replace the database with the backup at ``path``, then re-apply every erasure,
    suppression, consent ledger entry and subscription change made since it was taken.
    Without a ``journal``, it is read from the database being replaced (which must then be
    reachable). Refuses while workers or other sessions run. The journal is written to a file
    before anything is replaced, and a retry replays that file too."""
    say = progress or (lambda message: None)
    manifest = read_manifest(path)
    if manifest["vendor"] != connection.vendor:
        raise ValidationError(
            f"a {manifest['vendor']} backup cannot be restored into {connection.vendor}", field="path"
        )
    busy = workers_running()
    if busy:
        raise ConflictError(f"{busy}; stop the app, the workers and the scheduler before a restore")
    saved = pending_journal_path(manifest)
    collected = journal or Journal(boundary=manifest["journal"])
    # Every journal an unfinished restore left (of this backup, or of another one tried
    # before): the database may be that restore's, half-way, and no longer hold them.
    earlier = sorted(saved.parent.glob("journal-*.json")) if saved.parent.is_dir() else []
    for left in earlier:
        collected = load_journal(left).merged(collected)
        say(f"an earlier attempt left its journal in {left}: replaying it too")
    if journal is None:
        try:
            collected = collected.merged(journal_since(manifest))
        except DatabaseError:
            if not earlier:
                raise
            connection.close()  # the earlier attempt left the database half-way: its file is the journal
    top = _journal_top()
    saved.parent.mkdir(parents=True, exist_ok=True)
    export_journal(collected, saved)
    say(f"journal: {collected.describe()} since the backup (kept in {saved} until the restore has finished)")
    with tempfile.TemporaryDirectory(prefix="tillit-restore-") as scratch:
        with tarfile.open(path, "r") as archive:
            names = [m for m in archive.getmembers() if m.name.startswith("database.") and m.isfile()]
            if len(names) != 1:
                raise ValidationError("the backup holds no database", field="path")
            archive.extract(names[0], scratch, filter="data")
            dump = Path(scratch) / names[0].name
        connection.close()
        say("restoring the database")
        if connection.vendor == "postgresql":
            args, env = _pg_env()
            _run(
                ["pg_restore", *args, "--clean", "--if-exists", "--no-owner", "--single-transaction",
                 "-d", str(connection.settings_dict["NAME"]), str(dump)],
                env,
            )  # fmt: skip
        else:
            _sqlite_restore(dump)
    say("migrating")
    call_command("migrate", verbosity=0, interactive=False)
    _continue_journal_after(top)
    summary = RestoreSummary(taken_at=manifest["taken_at"])
    say("re-applying the erasures, suppressions, consents and subscriptions made since the backup")
    reapply_journal(actor=actor, now=now, journal=collected, summary=summary, progress=say)
    for done in (saved, *earlier):
        done.unlink(missing_ok=True)
    return summary


def _journal_top() -> int | None:
    """SQLite: the last journal entry of the database about to be replaced (None if unknown)."""
    if connection.vendor != "sqlite":
        return None
    try:
        return JournalEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    except DatabaseError:
        return None


def _continue_journal_after(top: int | None) -> None:
    """SQLite: go on numbering journal entries after the replaced database's last one, so the
    numbers stay in commit order across the restore (a backup taken before it still finds,
    by number, every change made after it was taken)."""
    if not top:
        return
    with connection.cursor() as cursor:
        cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s AND seq < %s", [top, JOURNAL_TABLE, top])
        cursor.execute("SELECT 1 FROM sqlite_sequence WHERE name = %s", [JOURNAL_TABLE])
        if cursor.fetchone() is None:
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [JOURNAL_TABLE, top])


def _sqlite_restore(dump: Path) -> None:
    plain = dump.with_suffix("")
    with gzip.open(dump, "rb") as packed, open(plain, "wb") as raw:
        shutil.copyfileobj(packed, raw, 1 << 20)
    source = sqlite3.connect(str(plain))
    target = sqlite3.connect(str(connection.settings_dict["NAME"]))
    try:
        with target:
            source.backup(target)  # replaces every page of the live file, WAL included
    finally:
        source.close()
        target.close()


def reapply_journal(
    *,
    actor: Actor,
    now: dt.datetime,
    journal: Journal,
    summary: RestoreSummary,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Put the journal's ledger entries and subscription states back for the people the
    restored database holds, then its receipts and suppression entries, and erase, through the
    one erasure path, everyone they name. Idempotent: a second run changes nothing."""
    from tillit.retention.services import _erase_rows

    say = progress or (lambda message: None)
    erased = {r["pseudonym"] for r in journal.receipts}
    _reapply_choices(actor=actor, now=now, journal=journal, erased=erased, summary=summary)
    _reapply_cookie_choices(journal=journal, summary=summary)
    say("re-applying the erasures")
    with transaction.atomic():
        known: set[tuple[Any, Any]] = set()
        for pseudonyms in _chunks(erased):
            known |= set(ErasureReceipt.objects.filter(pseudonym__in=pseudonyms).values_list("pseudonym", "batch"))
        missing = [r for r in journal.receipts if (r["pseudonym"], r["batch"]) not in known]
        ErasureReceipt.objects.bulk_create([ErasureReceipt(**r) for r in missing], batch_size=BATCH)
        summary.receipts_restored = len(missing)
        before = SuppressionEntry.objects.count()
        SuppressionEntry.objects.bulk_create(
            [SuppressionEntry(**s) for s in journal.suppressions], ignore_conflicts=True, batch_size=BATCH
        )
        summary.suppressions_restored = SuppressionEntry.objects.count() - before
    digests = {d for r in journal.receipts for d in r["identifier_digests"]}
    named = list(_people_named(erased, digests))  # ids only: few, and read before any write
    for ids in _batches(iter(named)):
        with transaction.atomic():
            rows = list(
                Person.objects.select_for_update()
                .filter(pk__in=ids)
                .values("pk", "pseudonym", "retain_reason", "email", "phone")
            )
            if rows:
                _erase_rows(actor=actor, now=now, rows=rows, reason="restore", suppress=False)
                summary.erased_again += len(rows)


def _notice_ids(journal: Journal) -> dict[str, int]:
    """The restored database's id of every notice version the journal's ledger entries name
    (a version published after the backup is put back from the journal)."""
    wanted = {c["notice"] for c in (*journal.consents, *journal.cookies) if c.get("notice")}
    ids = dict(NoticeVersion.objects.filter(digest__in=wanted).values_list("digest", "pk"))
    for notice in journal.notices:
        if notice["digest"] in wanted and notice["digest"] not in ids:
            values = {k: v for k, v in notice.items() if k != "digest"}
            try:
                with transaction.atomic():
                    version, _ = NoticeVersion.objects.get_or_create(digest=notice["digest"], defaults=values)
            except (IntegrityError, TypeError):
                continue  # a version this database cannot hold: its entries fall back to the newest
            ids[notice["digest"]] = version.pk
    return ids


def _reapply_choices(
    *, actor: Actor, now: dt.datetime, journal: Journal, erased: set[uuid.UUID], summary: RestoreSummary
) -> None:
    """The ledger entries (consents given, withdrawn, objections) and subscription states made
    since the backup, for the people the restored database holds, then their deadlines."""
    from tillit.audit.services import record_many
    from tillit.retention.services import lock_and_recompute_retention

    consents: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for c in sorted(journal.consents, key=lambda c: c["occurred_at"]):
        if c["pseudonym"] not in erased:
            consents[c["pseudonym"]].append(c)
    subscriptions: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for s in journal.subscriptions:
        if s["pseudonym"] not in erased:
            subscriptions[s["pseudonym"]].append(s)
    pseudonyms = set(consents) | set(subscriptions)
    if not pseudonyms:
        return
    with transaction.atomic():
        notices = _notice_ids(journal)
    newest_notice = NoticeVersion.objects.order_by("-published_at", "-pk").values_list("pk", flat=True).first()
    for chunk in _chunks(pseudonyms):
        with transaction.atomic():
            # Lock, then read: the people first, their ledger and subscriptions after.
            people = dict(
                Person.objects.select_for_update()
                .filter(pseudonym__in=chunk)
                .order_by("pk")
                .values_list("pseudonym", "pk")
            )
            if not people:
                continue
            have = set(
                ConsentEvent.objects.filter(person_id__in=people.values()).values_list(
                    "person_id", "purpose", "channel", "action", "occurred_at"
                )
            )
            new = []
            for pseudonym, person_id in people.items():
                for c in consents.get(pseudonym, []):
                    notice = notices.get(c.get("notice") or "", newest_notice)
                    if notice is None or (person_id, c["purpose"], c["channel"], c["action"], c["occurred_at"]) in have:
                        continue
                    values = {k: c[k] for k in CONSENT_FIELDS[1:-1]}
                    new.append(ConsentEvent(person_id=person_id, notice_version_id=notice, **values))
            ConsentEvent.objects.bulk_create(new)
            ledgers.seal("consent", ids=[e.pk for e in new])  # re-applied entries join their chains
            summary.consents_restored += len(new)
            touched = {e.person_id for e in new}
            current = {
                (person_id, newsletter): (since, until)
                for person_id, newsletter, since, until in Subscription.objects.filter(
                    person_id__in=people.values()
                ).values_list("person_id", "newsletter", "subscribed_at", "unsubscribed_at")
            }
            for pseudonym, person_id in people.items():
                for s in subscriptions.get(pseudonym, []):
                    values = {"subscribed_at": s["subscribed_at"], "unsubscribed_at": s["unsubscribed_at"]}
                    if current.get((person_id, s["newsletter"])) == (s["subscribed_at"], s["unsubscribed_at"]):
                        continue
                    Subscription.objects.update_or_create(
                        person_id=person_id, newsletter=s["newsletter"], defaults=values
                    )
                    summary.subscriptions_restored += 1
                    touched.add(person_id)
            for person_id in sorted(touched):
                lock_and_recompute_retention(person_id=person_id, now=now)
            if touched:
                record_many(
                    actor=actor,
                    now=now,
                    action="restore_choices",
                    subject_type="person",
                    subject_ids=sorted(touched),
                    fields=["consent", "subscriptions"],
                )


def _reapply_cookie_choices(*, journal: Journal, summary: RestoreSummary) -> None:
    """The choices made in the cookie banner since the backup (a withdrawal is a choice with no
    categories), each once, with the banner wording and notice they were made to."""
    if not journal.cookies:
        return
    with transaction.atomic():
        notices = _notice_ids(journal)
        newest_notice = NoticeVersion.objects.order_by("-published_at", "-pk").values_list("pk", flat=True).first()
        wordings = dict(
            CookieBannerWording.objects.filter(digest__in={c["wording"] for c in journal.cookies}).values_list(
                "digest", "pk"
            )
        )
        for w in journal.wordings:
            if w["digest"] not in wordings:
                values = {k: v for k, v in w.items() if k != "digest"}
                wordings[w["digest"]] = CookieBannerWording.objects.get_or_create(digest=w["digest"], defaults=values)[
                    0
                ].pk
        by_browser: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for c in journal.cookies:
            by_browser[c["browser_id"]].append(c)
        new = []
        for chunk in _chunks(by_browser):
            have = set(CookieChoice.objects.filter(browser_id__in=chunk).values_list("browser_id", "chosen_at"))
            for c in (c for browser in chunk for c in by_browser[browser]):
                notice = notices.get(c.get("notice") or "", newest_notice)
                wording = wordings.get(c["wording"])
                if (c["browser_id"], c["chosen_at"]) in have or notice is None or wording is None:
                    continue
                values = {k: c[k] for k in COOKIE_FIELDS}
                new.append(CookieChoice(notice_version_id=notice, wording_id=wording, **values))
        with transaction.atomic():
            CookieChoice.objects.bulk_create(new, batch_size=BATCH)
            ledgers.seal("cookie_choice", ids=[c.pk for c in new], lock=True)
        summary.cookie_choices_restored = len(new)


def _people_named(pseudonyms: set[uuid.UUID], digests: set[str]) -> Iterator[int]:
    """The people a journal names: by pseudonym, or by the keyed hash of their address or
    number (someone erased after the backup, whatever else changed). Streams the people table
    once, in key order, so memory stays bounded."""
    if not pseudonyms and not digests:
        return
    key = settings.TILLIT_IDENTIFIER_KEY
    people = Person.objects.order_by("pk").values_list("pk", "pseudonym", "email", "phone")
    for pk, pseudonym, email, phone in people.iterator(chunk_size=5_000):
        if pseudonym in pseudonyms or any(
            d in digests for _, d in identifier_digests(email=email, phone=phone, key=key)
        ):
            yield pk


def _batches(ids: Iterator[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for pk in ids:
        batch.append(pk)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
