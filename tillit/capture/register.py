"""Public register enrichment (policy §6 "other sources"; GDPR art. 14): import the Norwegian
register of legal entities (Enhetsregisteret, Brønnøysundregistrene) into organisations.

The input is the register's bulk download of entities (``/enhetsregisteret/api/enheter/lastned``):
one JSON array of objects, plain or gzip-compressed. Read per entity: ``organisasjonsnummer``,
``navn``, ``naeringskode1`` (``kode``, and the version of the industry classification its code
belongs to) and ``forretningsadresse`` (``adresse`` lines, ``postnummer``, ``poststed``,
``landkode``). Nothing else is read.

The register of *roles* (``/roller``: named board members, owners, contacts, with birth dates)
is never imported: a file of roles is refused before anything is written, and a row that
carries roles is rejected.

It streams: the array is parsed element by element (``json.JSONDecoder.raw_decode`` over
chunks), so a national file of over a million entities needs memory for one batch only. Each
batch (default 20,000 entities) is one transaction: organisations are upserted set-based on the
organisation number (``INSERT ... ON CONFLICT``; new ones inserted, known ones enriched where the
register says something new, never blanked), with their provenance (source: the policy's
``public_register``): one row per new organisation covering all its fields
(``PROVENANCE_ALL_FIELDS``), one per field changed in a known one; and one audit entry. A bad row is reported (row
number, field, reason; never its values) and skipped; it never stops the good rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import io
import json
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from django.db import connection, transaction
from stdnum.no import orgnr as no_orgnr

from tillit import policy
from tillit.audit import services as audit
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError
from tillit.core.vocabulary import PROVENANCE_ALL_FIELDS
from tillit.people.models import Organization, Provenance

SOURCE = "public_register"  # the source key in the policy (§6)
REGISTER = "Enhetsregisteret"
DEFAULT_INDUSTRY_STANDARD = "SN2007"  # the classification the register's codes follow unless a row says
BATCH_SIZE = 20_000  # entities per transaction: fewer round trips; about 50 MB of memory
DEFAULT_COUNTRY = str(Organization._meta.get_field("country").default)
CHUNK_CHARS = 1 << 20
MAX_ELEMENT_CHARS = 4 << 20  # an element larger than this is malformed, not merely unfinished
# Keys of the register of roles: a file or row carrying them is never imported.
ROLE_KEYS = frozenset({"rollegrupper", "roller", "rolle", "fodselsdato", "fodselsnummer", "person"})
FIELDS = (
    "org_number",
    "name",
    "industry_code",
    "industry_code_version",
    "street",
    "postcode",
    "city",
    "country",
    "organisation_form",
)
# The fields whose change is recorded with provenance (the version only qualifies the code).
PROVENANCE_FIELDS = (
    "org_number",
    "name",
    "industry_code",
    "street",
    "postcode",
    "city",
    "country",
    "organisation_form",
)
_CODE = re.compile(r"^[0-9][0-9.]{0,9}$")
_NEXT_ENTITY = re.compile(r"\{\s*\"organisasjonsnummer\"")


class OrgRow(NamedTuple):
    org_number: str
    name: str
    industry_code: str
    industry_code_version: str
    street: str
    postcode: str
    city: str
    country: str
    # The register's organisation form (organisasjonsform.kode): ENK is a person (§6).
    organisation_form: str = ""


@dataclass(frozen=True)
class RowError:
    """A row that was not imported: its number in the file (1-based), the field and why."""

    row: int
    field: str
    message: str


class _Malformed(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


@dataclass
class ImportSummary:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    batches: int = 0
    errors: list[RowError] = field(default_factory=list)  # the first ``keep_errors`` only


# --- reading: bytes -> text -> JSON elements, streamed ---------------------------------------------


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from it (for the progress bar)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def open_register_file(path: Path) -> tuple[IO[str], _CountingReader, int]:
    """The file as text (gzip recognised by its magic bytes), the byte counter and its size."""
    size = path.stat().st_size
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    counter = _CountingReader(raw)
    buffered = io.BufferedReader(counter, buffer_size=1 << 20)
    binary: IO[bytes] = gzip.GzipFile(fileobj=buffered, mode="rb") if magic == b"\x1f\x8b" else buffered  # type: ignore[assignment]
    return io.TextIOWrapper(binary, encoding="utf-8", errors="strict"), counter, size


def iter_json_array(text: IO[str], *, chunk_chars: int = CHUNK_CHARS) -> Iterator[Any]:
    """Yield the elements of a top-level JSON array read from ``text`` in chunks, holding one
    chunk and one element in memory. A malformed element (or a file cut short) yields a
    ``_Malformed`` and the parser resynchronises on the next entity; a file that is not an
    array raises ``ValidationError``."""
    decoder = json.JSONDecoder()
    buffer = ""
    pos = 0
    eof = False

    def fill() -> bool:
        nonlocal buffer, pos, eof
        if eof:
            return False
        chunk = text.read(chunk_chars)
        if not chunk:
            eof = True
            return False
        buffer = buffer[pos:] + chunk
        pos = 0
        return True

    def skip_space() -> bool:
        """Move past whitespace; False at the end of the input."""
        nonlocal pos
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n":
                pos += 1
            if pos < len(buffer):
                return True
            if not fill():
                return False

    if not skip_space() or buffer[pos] != "[":
        raise ValidationError("the file is not a JSON array of entities (the register's bulk format)", field="file")
    pos += 1
    expect_value = True
    while True:
        if not skip_space():
            yield _Malformed("the file ends before its JSON array is closed (cut short?)")
            return
        ch = buffer[pos]
        if ch == "]":
            return
        if ch == ",":
            if expect_value:
                yield _Malformed("an empty element in the array")
            pos += 1
            expect_value = True
            continue
        try:
            value, end = decoder.raw_decode(buffer, pos)
        except json.JSONDecodeError as error:
            # Unfinished (the element goes on in the next chunk) or malformed?
            if not eof and len(buffer) - pos < MAX_ELEMENT_CHARS and fill():
                continue
            yield _Malformed(f"not valid JSON ({error.msg})")
            found = _NEXT_ENTITY.search(buffer, pos + 1)
            while found is None and fill():
                found = _NEXT_ENTITY.search(buffer, pos + 1)
            if found is None:
                return
            pos = found.start()
            continue
        # A number or literal may go on in the next chunk: read on before trusting it.
        if end == len(buffer) and not eof and fill():
            continue
        pos = end
        expect_value = False
        yield value


# --- one entity -----------------------------------------------------------------------------------


def _text(value: Any, field: str, *, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _RowProblem(field, "must be text")
    text = " ".join(value.split())
    if required and not text:
        raise _RowProblem(field, "is missing")
    if len(text) > max_length:
        raise _RowProblem(field, f"is longer than {max_length} characters")
    return text


class _RowProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


def entity_row(raw: Any, *, default_standard: str = DEFAULT_INDUSTRY_STANDARD) -> OrgRow:
    """The organisation fields of one register entity. Raises ``_RowProblem``."""
    if not isinstance(raw, dict):
        raise _RowProblem("entity", "is not a JSON object")
    if ROLE_KEYS & raw.keys():
        raise _RowProblem("entity", "holds roles (named people): the register of roles is never imported")
    number = raw.get("organisasjonsnummer")
    if not isinstance(number, str) or not number.strip():
        raise _RowProblem("organisasjonsnummer", "is missing")
    number = number.replace(" ", "").strip()
    if len(number) != 9 or not number.isdigit():
        raise _RowProblem("organisasjonsnummer", "an organisation number has nine digits")
    if no_orgnr.checksum(number) != 0:  # python-stdnum's mod 11 rule (is_valid minus re-cleaning)
        raise _RowProblem("organisasjonsnummer", "the check digit is wrong")
    name = _text(raw.get("navn"), "navn", max_length=200, required=True)
    code = version = ""
    industry = raw.get("naeringskode1")
    if industry is not None:
        if not isinstance(industry, dict):
            raise _RowProblem("naeringskode1", "is not an object")
        code = _text(industry.get("kode"), "naeringskode1.kode", max_length=10)
        if code and not _CODE.match(code):
            raise _RowProblem("naeringskode1.kode", "an industry code is digits and dots, like 62.010")
        if code:
            version = _text(industry.get("versjon"), "naeringskode1.versjon", max_length=20) or default_standard
    street = postcode = city = ""
    country = ""
    address = raw.get("forretningsadresse")
    if address is not None:
        if not isinstance(address, dict):
            raise _RowProblem("forretningsadresse", "is not an object")
        lines = address.get("adresse") or []
        if not isinstance(lines, list) or not all(isinstance(line, str) or line is None for line in lines):
            raise _RowProblem("forretningsadresse.adresse", "is not a list of lines")
        street = ", ".join(" ".join(line.split()) for line in lines if line and line.strip())
        if len(street) > 200:
            raise _RowProblem("forretningsadresse.adresse", "is longer than 200 characters")
        postcode = _text(address.get("postnummer"), "forretningsadresse.postnummer", max_length=10)
        city = _text(address.get("poststed"), "forretningsadresse.poststed", max_length=100)
        country = _text(address.get("landkode"), "forretningsadresse.landkode", max_length=2).upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise _RowProblem("forretningsadresse.landkode", "is a two-letter country code")
    form = raw.get("organisasjonsform")
    organisation_form = ""
    if form is not None:
        if not isinstance(form, dict):
            raise _RowProblem("organisasjonsform", "is not an object")
        organisation_form = _text(form.get("kode"), "organisasjonsform.kode", max_length=10).upper()
        if organisation_form and not (organisation_form.isascii() and organisation_form.isalnum()):
            raise _RowProblem("organisasjonsform.kode", "an organisation form is a code like AS or ENK")
    return OrgRow(number, name, code, version, street, postcode, city, country, organisation_form)


def check_not_roles(first: Any, path: Path) -> None:
    """Refuse the register of roles (named people) before anything is written (§6)."""
    looks_like_roles = isinstance(first, dict) and bool(ROLE_KEYS & first.keys())
    if looks_like_roles or "roller" in path.name.lower():
        raise ValidationError(
            "this is the register of roles (named people); tillit never imports it, only the register "
            "of legal entities (enheter)",
            field="file",
        )


# --- writing a batch, set-based ------------------------------------------------------------------


def _merged(incoming: OrgRow, existing: tuple[Any, ...] | None) -> tuple[OrgRow, list[str]]:
    """The row to write and the fields it changes: the register's non-empty values over ours
    (the register never blanks a field we hold)."""
    if existing is None:  # a new organisation: one provenance row covers all its fields
        return incoming, [PROVENANCE_ALL_FIELDS]
    values = []
    changed = []
    for name, new, old in zip(FIELDS, incoming, existing, strict=True):
        old = old or ""
        value = new or old
        if name == "industry_code_version" and not incoming.industry_code:
            value = old
        values.append(value)
        if value != old and name in PROVENANCE_FIELDS:
            changed.append(name)
    row = OrgRow(*values)
    if row == OrgRow(*(o or "" for o in existing)):
        return row, []
    return row, changed


def _pg_cursor() -> Any:
    """psycopg's own cursor on Django's connection (same transaction): parameters travel
    server-side, so an array of 20,000 values is one binary value, not SQL text built in
    Python (Django's cursor binds on the client)."""
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def _existing(numbers: list[str]) -> dict[str, tuple[Any, ...]]:
    """The register fields of the organisations we already hold, by organisation number."""
    found: dict[str, tuple[Any, ...]] = {}
    if connection.vendor == "postgresql":  # one array parameter instead of thousands
        with _pg_cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(FIELDS)} FROM {Organization._meta.db_table} "  # noqa: S608
                "WHERE org_number = ANY(%s::text[])",
                [numbers],
            )
            for values in cursor.fetchall():
                found[values[0]] = tuple(values)
        return found
    for start in range(0, len(numbers), 5_000):
        chunk = numbers[start : start + 5_000]
        for values in Organization.objects.filter(org_number__in=chunk).values_list(*FIELDS):
            found[values[0]] = values
    return found


def _upsert_organisations(rows: list[OrgRow], now: dt.datetime) -> dict[str, int]:
    """INSERT ... ON CONFLICT (org_number) DO UPDATE for the rows; returns orgnr -> id."""
    table = Organization._meta.db_table
    columns = ", ".join(FIELDS)
    updates = ", ".join(f"{f} = excluded.{f}" for f in FIELDS[1:]) + ", updated_at = excluded.updated_at"
    ids: dict[str, int] = {}
    if connection.vendor == "postgresql":
        with _pg_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}, created_at, updated_at) "  # noqa: S608
                f"SELECT v.*, %s, %s FROM unnest({', '.join(['%s::text[]'] * len(FIELDS))}) AS v({columns}) "
                f"ON CONFLICT (org_number) DO UPDATE SET {updates} RETURNING org_number, id",
                [now, now, *([r[i] for r in rows] for i in range(len(FIELDS)))],
            )
            ids.update(cursor.fetchall())
        return ids
    with connection.cursor() as cursor:
        stamp = connection.ops.adapt_datetimefield_value(now)
        per_statement = 900  # 11 parameters a row; SQLite allows 32,766 per statement
        row_placeholder = "(" + ", ".join(["%s"] * (len(FIELDS) + 2)) + ")"
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            placeholders = ", ".join([row_placeholder] * len(chunk))
            params: list[Any] = []
            for r in chunk:
                params.extend((*r, stamp, stamp))
            cursor.execute(
                f"INSERT INTO {table} ({columns}, created_at, updated_at) VALUES {placeholders} "  # noqa: S608
                f"ON CONFLICT (org_number) DO UPDATE SET {updates} RETURNING org_number, id",
                params,
            )
            ids.update(cursor.fetchall())
    return ids


def _insert_provenance(entries: list[tuple[int, str]], *, detail: str, now: dt.datetime) -> None:
    if not entries:
        return
    table = Provenance._meta.db_table
    if connection.vendor == "postgresql":
        with _pg_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (organization_id, field, source, detail, recorded_at) "  # noqa: S608
                "SELECT o, f, %s, %s, %s FROM unnest(%s::bigint[], %s::text[]) AS v(o, f)",
                [SOURCE, detail, now, [e[0] for e in entries], [e[1] for e in entries]],
            )
        return
    with connection.cursor() as cursor:
        stamp = connection.ops.adapt_datetimefield_value(now)
        cursor.executemany(
            f"INSERT INTO {table} (organization_id, field, source, detail, recorded_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s)",
            [(org_id, name, SOURCE, detail, stamp) for org_id, name in entries],
        )


@transaction.atomic
def _write_batch(
    *, actor: Actor, now: dt.datetime, rows: dict[str, OrgRow], detail: str, summary: ImportSummary
) -> None:
    """One batch in one transaction: upsert what is new or changed, its provenance, the audit.

    On PostgreSQL the commit does not wait for the WAL to reach the disk (``synchronous_commit
    = off`` for this transaction only): a crash may lose the last batches written, never part
    of one, and running the import again restores them (it is idempotent)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
    existing = _existing(list(rows))
    to_write: list[OrgRow] = []
    changes: dict[str, list[str]] = {}
    for number, incoming in rows.items():
        row, changed = _merged(incoming, existing.get(number))
        if not changed and number in existing:
            summary.unchanged += 1
            continue
        if not row.country:  # a new organisation without an address: the model's default
            row = row._replace(country=DEFAULT_COUNTRY)
        to_write.append(row)
        changes[number] = changed
    if not to_write:
        return
    ids = _upsert_organisations(to_write, now)
    _insert_provenance(
        [(ids[number], name) for number, names in changes.items() for name in names], detail=detail, now=now
    )
    inserted = sum(1 for number in changes if number not in existing)
    summary.inserted += inserted
    summary.updated += len(changes) - inserted
    audit.record(
        actor=actor,
        now=now,
        action="register_import",
        subject_type="organization",
        subject_id=None,
        fields=[f"inserted:{inserted}", f"updated:{len(changes) - inserted}"],
    )


@dataclass
class _Batch:
    """What the reading thread hands to the writing one: the rows of a batch, the rows it
    rejected on the way, and how many bytes of the file were read by then."""

    rows: dict[str, OrgRow]
    rejected: list[RowError]
    read: int
    bytes_read: int


_DONE = object()


def _read_batches(
    path: Path, *, batch_size: int, default_standard: str, handoff: queue.Queue[Any], stop: threading.Event
) -> None:
    """The reading side (its own thread, no database): parse, check and batch the entities,
    handing each batch over through a bounded queue (so at most a few batches are in memory).
    An exception is handed over too, and raised by the writer."""
    try:
        text, counter, _size = open_register_file(path)
        with text:
            rows: dict[str, OrgRow] = {}
            rejected: list[RowError] = []
            read = 0
            for index, element in enumerate(iter_json_array(text), start=1):
                if index == 1:
                    check_not_roles(element, path)
                read += 1
                if isinstance(element, _Malformed):
                    rejected.append(RowError(index, "entity", element.message))
                    continue
                try:
                    row = entity_row(element, default_standard=default_standard)
                except _RowProblem as problem:
                    rejected.append(RowError(index, problem.field, problem.message))
                    continue
                if row.org_number in rows:
                    rejected.append(
                        RowError(index, "organisasjonsnummer", "appears twice in the file; the later entity is used")
                    )
                rows[row.org_number] = row
                if len(rows) >= batch_size:
                    handoff.put(_Batch(rows, rejected, read, counter.count))
                    if stop.is_set():
                        return
                    rows, rejected, read = {}, [], 0
            handoff.put(_Batch(rows, rejected, read, counter.count))
    except (UnicodeDecodeError, EOFError, OSError) as error:
        handoff.put(ValidationError(f"the file cannot be read to its end ({type(error).__name__})", field="file"))
    except BaseException as error:
        handoff.put(error)
    handoff.put(_DONE)


def import_entities(
    *,
    actor: Actor,
    now: dt.datetime,
    path: Path,
    batch_size: int = BATCH_SIZE,
    default_standard: str = DEFAULT_INDUSTRY_STANDARD,
    progress: Callable[[int, int], None] | None = None,
    on_error: Callable[[RowError], None] | None = None,
    keep_errors: int = 1_000,
) -> ImportSummary:
    """Import a bulk file of the register of legal entities (plain or gzip JSON) into
    organisations, ``batch_size`` entities per transaction. ``progress(bytes_read, size)``
    is called after each batch; ``on_error`` for each rejected row.

    Reading (parsing and checking, pure Python) runs in a second thread while this one
    writes the previous batch, so the two overlap; the hand-over queue holds at most two
    batches, which bounds memory."""
    current = policy.current()
    if SOURCE not in current.sources:
        raise ValidationError(f"the policy has no source {SOURCE!r} (§6)", field="source")
    if not 1 <= batch_size <= 50_000:
        raise ValidationError("must be between 1 and 50000", field="--batch-size")
    if not path.is_file():
        raise ValidationError("no such file", field="file")
    detail = f"{REGISTER} ({path.name})"[:200]
    size = path.stat().st_size
    summary = ImportSummary()
    handoff: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()
    reader = threading.Thread(
        target=_read_batches,
        kwargs={
            "path": path,
            "batch_size": batch_size,
            "default_standard": default_standard,
            "handoff": handoff,
            "stop": stop,
        },
        name="register-reader",
        daemon=True,
    )
    reader.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            summary.read += item.read
            for error in item.rejected:
                summary.rejected += 1
                if len(summary.errors) < keep_errors:
                    summary.errors.append(error)
                if on_error:
                    on_error(error)
            if item.rows:
                _write_batch(actor=actor, now=now, rows=item.rows, detail=detail, summary=summary)
                summary.batches += 1
            if progress:
                progress(item.bytes_read, size)
    finally:
        stop.set()
        while reader.is_alive():  # let a reader blocked on a full queue finish
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.1)
        reader.join()
    if progress:
        progress(size, size)
    return summary
