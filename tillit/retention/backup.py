"""Backups that never bring the erased back (checklist: erasure must reach backups).

``write_backup`` writes one compressed file holding a consistent copy of the database (a
``pg_dump`` custom-format archive on PostgreSQL, taken in one snapshot; SQLite's online backup
API otherwise) and a manifest saying when it was taken and from which database.

A backup restored as it is would resurrect everyone erased after it was taken. So
``restore_backup`` first reads the *erasure journal* (the erasure receipts and suppression
entries written since the backup, from the database being replaced or from a journal file
exported with ``export_journal``), restores the copy, migrates it, and then re-applies the
journal: the receipts and suppression entries go back in, and everyone a receipt names (by
pseudonym, or by the keyed hash of an email address or phone number) is erased again through
the one erasure path. Receipts and suppression entries hold no personal data: keyed hashes
are enough to find a person, not to read them.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from tillit.consent.models import SuppressionEntry
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, ValidationError
from tillit.core.identifiers import identifier_digests
from tillit.people.models import Person
from tillit.retention.models import ErasureReceipt

FORMAT = 1
MANIFEST = "manifest.json"
JOURNAL_FORMAT = 1
# A receipt committed while the backup's snapshot was being taken may or may not be in it;
# re-applying is idempotent, so the journal starts a little before the backup.
JOURNAL_MARGIN = dt.timedelta(minutes=10)
BATCH = 1_000


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
    """Erasure receipts and suppression entries since a moment, as plain values."""

    since: dt.datetime
    receipts: list[dict[str, Any]] = field(default_factory=list)
    suppressions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RestoreSummary:
    taken_at: dt.datetime
    receipts_restored: int = 0
    suppressions_restored: int = 0
    erased_again: int = 0


# --- writing --------------------------------------------------------------------------------


def write_backup(*, now: dt.datetime, path: Path) -> BackupSummary:
    """Write a consistent, compressed backup of the whole database to ``path`` (a tar file)."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise ValidationError("is a directory; give a file name", field="path")
    vendor = connection.vendor
    manifest = {
        "format": FORMAT,
        "taken_at": now.isoformat(),
        "vendor": vendor,
        "migrations": _applied_migrations(),
    }
    with tempfile.TemporaryDirectory(prefix="tillit-backup-") as scratch:
        dump = Path(scratch) / ("database.pgdump" if vendor == "postgresql" else "database.sqlite3.gz")
        if vendor == "postgresql":
            _pg_dump(dump)
        else:
            _sqlite_dump(dump)
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


def _pg_dump(target: Path) -> None:
    args, env = _pg_env()
    # Custom format: compressed, and one snapshot (consistent while the system runs).
    _run(["pg_dump", *args, "-Fc", "-Z", "6", "-f", str(target), str(connection.settings_dict["NAME"])], env)


def _sqlite_dump(target: Path) -> None:
    source = sqlite3.connect(str(connection.settings_dict["NAME"]))
    copy = target.with_suffix("")
    try:
        destination = sqlite3.connect(str(copy))
        with destination:
            source.backup(destination)  # SQLite's online backup: a consistent copy
        destination.close()
    finally:
        source.close()
    with open(copy, "rb") as raw, gzip.open(target, "wb", compresslevel=6) as packed:
        shutil.copyfileobj(raw, packed, 1 << 20)
    copy.unlink()


# --- the journal ----------------------------------------------------------------------------


def erasure_journal(*, since: dt.datetime) -> Journal:
    """The receipts and suppression entries written since ``since`` (nothing personal)."""
    receipts: list[dict[str, Any]] = [
        dict(row)
        for row in ErasureReceipt.objects.filter(erased_at__gte=since)
        .order_by("pk")
        .values("pseudonym", "batch", "erased_at", "reason", "rule", "counts", "actor_label", "identifier_digests")
    ]
    suppressions: list[dict[str, Any]] = [
        dict(row)
        for row in SuppressionEntry.objects.filter(created_at__gte=since)
        .order_by("pk")
        .values("digest", "channel", "reason", "created_at")
    ]
    return Journal(since=since, receipts=receipts, suppressions=suppressions)


def export_journal(journal: Journal, path: Path) -> None:
    """Write a journal as JSON (to keep off-site beside the backups)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        return value

    data = {
        "format": JOURNAL_FORMAT,
        "since": journal.since.isoformat(),
        "receipts": [{k: plain(v) for k, v in r.items()} for r in journal.receipts],
        "suppressions": [{k: plain(v) for k, v in s.items()} for s in journal.suppressions],
    }
    Path(path).write_text(json.dumps(data), encoding="utf-8")


def load_journal(path: Path) -> Journal:
    """Read a journal written by ``export_journal``; a file that is not one fails with a message."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != JOURNAL_FORMAT:
            raise ValueError("unknown format")
        receipts = [
            {
                **r,
                "pseudonym": uuid.UUID(r["pseudonym"]),
                "batch": uuid.UUID(r["batch"]) if r.get("batch") else None,
                "erased_at": dt.datetime.fromisoformat(r["erased_at"]),
            }
            for r in data["receipts"]
        ]
        suppressions = [{**s, "created_at": dt.datetime.fromisoformat(s["created_at"])} for s in data["suppressions"]]
        return Journal(dt.datetime.fromisoformat(data["since"]), receipts, suppressions)
    except (OSError, ValueError, KeyError, TypeError) as error:
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
    if manifest.get("format") != FORMAT:
        raise ValidationError("a backup in a format this version cannot read", field="path")
    manifest["taken_at"] = dt.datetime.fromisoformat(manifest["taken_at"])
    return manifest


def restore_backup(
    *,
    actor: Actor,
    now: dt.datetime,
    path: Path,
    journal: Journal | None = None,
    progress: Callable[[str], None] | None = None,
) -> RestoreSummary:
    """Replace the database with the backup at ``path``, then re-apply every erasure and
    suppression made since it was taken. Without a ``journal``, it is read from the database
    being replaced (which must then be reachable). Stop the app and workers first."""
    say = progress or (lambda message: None)
    manifest = read_manifest(path)
    if manifest["vendor"] != connection.vendor:
        raise ValidationError(
            f"a {manifest['vendor']} backup cannot be restored into {connection.vendor}", field="path"
        )
    since = manifest["taken_at"] - JOURNAL_MARGIN
    if journal is None:
        journal = erasure_journal(since=since)
        say(f"journal: {len(journal.receipts)} erasure receipts and {len(journal.suppressions)} suppressions since")
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
    summary = RestoreSummary(taken_at=manifest["taken_at"])
    say("re-applying erasures and suppressions made since the backup")
    reapply_journal(actor=actor, now=now, journal=journal, summary=summary)
    return summary


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


def reapply_journal(*, actor: Actor, now: dt.datetime, journal: Journal, summary: RestoreSummary) -> None:
    """Put the journal's receipts and suppression entries back and erase, through the one
    erasure path, everyone they name. Idempotent: a second run changes nothing."""
    from tillit.retention.services import _erase_rows

    with transaction.atomic():
        known = set(ErasureReceipt.objects.filter(erased_at__gte=journal.since).values_list("pseudonym", "batch"))
        missing = [r for r in journal.receipts if (r["pseudonym"], r["batch"]) not in known]
        ErasureReceipt.objects.bulk_create([ErasureReceipt(**r) for r in missing], batch_size=BATCH)
        summary.receipts_restored = len(missing)
        before = SuppressionEntry.objects.count()
        SuppressionEntry.objects.bulk_create(
            [SuppressionEntry(**s) for s in journal.suppressions], ignore_conflicts=True, batch_size=BATCH
        )
        summary.suppressions_restored = SuppressionEntry.objects.count() - before
    pseudonyms = {r["pseudonym"] for r in journal.receipts}
    digests = {d for r in journal.receipts for d in r["identifier_digests"]}
    named = list(_people_named(pseudonyms, digests))  # ids only: few, and read before any write
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
