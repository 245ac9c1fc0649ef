"""Retention acts: keep every deadline current, and erase. ``erase_person`` and ``sweep`` are
the only code that deletes personal data.

Design notes:
- The rule is ``tillit.policy.retention.retain_until`` (pure). ``recompute_retention`` feeds it
  one person's facts and stores the answer; every service that records a contact, a
  subscription change or a customer-relationship change calls it in its own transaction.
- Erasure is driven by the classification registry: every table with a ``SUBJECT`` link to
  Person loses the person's rows, in one transaction, with set-based DELETEs. What remains is
  a receipt without personal data (pseudonym, reason, rule, counts per table, keyed hashes of
  the identifiers so a restored backup can erase the person again).
- Records under a legal hold (``HELD`` in the registry: order lines, bookkeeping) are not
  deleted with the person while the hold lasts: they are detached (no link to the person, no
  personal data left on them) and the receipt lists them under ``kept`` with the hold, its
  basis and until when; the sweep deletes them when the hold ends.
- The sweep erases everyone past their deadline in batches, each batch one transaction, so a
  killed sweep leaves whole people or none and the next run finishes the job. Only one sweep
  runs at a time (a PostgreSQL advisory lock, or a file lock beside the SQLite database).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from tillit import policy
from tillit.audit import ledgers
from tillit.audit.services import record as audit_record
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError
from tillit.core.identifiers import identifier_digests
from tillit.people.models import Organization, Person
from tillit.people.restrictions import held_by_restriction_q
from tillit.policy import classification, sole_proprietorship
from tillit.policy import retention as rule
from tillit.policy.capture import hold_for_record
from tillit.retention import selectors
from tillit.retention.models import ErasureNotice, ErasureReceipt

ERASURE_REASONS = ("sweep", "withdrawal", "objection", "request", "staff", "restore")
# Erasures that follow the person's own wish to be left alone put them on the suppression list.
SUPPRESSING_REASONS = ("withdrawal", "objection")


def recompute_retention(*, person: Person, now: dt.datetime) -> rule.RetentionDecision:
    """Store the person's current deadline and its reason. Call inside the transaction of the
    change that may move it. Returns the decision."""
    decision = rule.retain_until(policy.current(), selectors.retention_facts(person_id=person.pk))
    if (person.retain_until, person.retain_reason) != (decision.retain_until, decision.reason):
        Person.objects.filter(pk=person.pk).update(retain_until=decision.retain_until, retain_reason=decision.reason)
        person.retain_until, person.retain_reason = decision.retain_until, decision.reason
    return decision


def lock_and_recompute_retention(*, person_id: int, now: dt.datetime) -> rule.RetentionDecision:
    """Lock the person's row, then store their current deadline (for hot paths such as
    recording a consent). Raises LookupError if there is no such person.

    Lock, then read (DESIGN.md rule 14): the lock is taken in a statement of its own, and the
    facts are read by the next one. Under READ COMMITTED a statement keeps the snapshot it
    began with, so facts read in the statement that waited for the lock would be those from
    before the wait: a customer relationship committed meanwhile by the lock's holder (an
    order) would be missed, and the old deadline written back over the new one."""
    _lock_person(person_id)
    facts, stored = selectors.retention_state(person_id=person_id)
    decision = rule.retain_until(policy.current(), facts)
    if stored != (decision.retain_until, decision.reason):
        Person.objects.filter(pk=person_id).update(retain_until=decision.retain_until, retain_reason=decision.reason)
    return decision


def _lock_person(person_id: int) -> None:
    """Take the person's row lock for the caller's transaction, in one statement that reads
    nothing else (on SQLite the IMMEDIATE transaction already holds the one write lock).
    Raises LookupError if there is no such person."""
    if not list(Person.objects.select_for_update().filter(pk=person_id).values_list("pk", flat=True)):
        raise LookupError("no such person")


def recompute_all(*, chunk: int = 20_000, progress: Callable[[int, int], None] | None = None) -> int:
    """Recompute every person's deadline (after a bulk load or a policy change), in chunks:
    the facts of a chunk come from a few aggregate queries, the rule decides, one statement
    writes the chunk back. Returns the number of people."""
    current = policy.current()
    total = Person.objects.count()
    done = 0
    last_id = 0
    while True:
        facts = selectors.retention_facts_chunk(after_id=last_id, limit=chunk)
        if not facts:
            break
        rows = [(pid, *_decision_row(rule.retain_until(current, f))) for pid, f in facts]
        with transaction.atomic():
            _write_decisions(rows)
        last_id = facts[-1][0]
        done += len(facts)
        if progress:
            progress(done, total)
    return done


def _decision_row(decision: rule.RetentionDecision) -> tuple[dt.datetime | None, str]:
    return decision.retain_until, decision.reason


def _write_decisions(rows: list[tuple[int, dt.datetime | None, str]]) -> None:
    table = Person._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS p SET retain_until = v.until, retain_reason = v.reason "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[]) AS v(id, until, reason) WHERE p.id = v.id",
                [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET retain_until = %s, retain_reason = %s WHERE id = %s",  # noqa: S608
                [(connection.ops.adapt_datetimefield_value(r[1]), r[2], r[0]) for r in rows],
            )


def _subject_tables() -> list[tuple[str, str]]:
    """(table, column) of every table that links rows to a person, from the classification."""
    result = []
    for model_key, field_name in classification.subject_links():
        model = apps.get_model(model_key)
        result.append((model._meta.db_table, model._meta.get_field(field_name).column))
    return result


@dataclass(frozen=True)
class HeldTable:
    """A table of records under a legal hold (classification ``HELD``): erasure detaches its
    rows from the person and keeps them until ``until_column``; the sweep deletes them then."""

    table: str
    column: str
    until_column: str
    hold: str


def _held_tables() -> list[HeldTable]:
    """Every table whose rows a legal hold of the policy keeps, from the classification."""
    result = []
    current = policy.current()
    for model_key, field_name, record in classification.held_links():
        hold = hold_for_record(current, record)
        if hold is None:
            continue  # no hold keeps this record under the current policy: erased like the rest
        model = apps.get_model(model_key)
        result.append(
            HeldTable(
                table=model._meta.db_table,
                column=model._meta.get_field(field_name).column,
                until_column=model._meta.get_field(classification.HOLD_UNTIL_FIELD).column,
                hold=hold,
            )
        )
    return result


def _unheld_links() -> list[tuple[str, str]]:
    """Held links whose record no hold of the current policy keeps: erased with the person."""
    current = policy.current()
    result = []
    for model_key, field_name, record in classification.held_links():
        if hold_for_record(current, record) is None:
            model = apps.get_model(model_key)
            result.append((model._meta.db_table, model._meta.get_field(field_name).column))
    return result


@dataclass(frozen=True)
class DigestTable:
    """A table of queued rows not yet linked to a person (classification ``SUBJECT_DIGEST``):
    ``column`` holds a keyed hash of the ``kind`` of identifier (``email`` or ``phone``, also
    the Person field it hashes) of the person the row is about."""

    model: Any
    table: str
    pk: str
    column: str
    field: str
    kind: str


def _digest_tables() -> list[DigestTable]:
    """Every column holding a keyed hash of a queued row's person, from the classification."""
    result = []
    for model_key, field_name, kind in classification.subject_digests():
        model = apps.get_model(model_key)
        result.append(
            DigestTable(
                model=model,
                table=model._meta.db_table,
                pk=model._meta.pk.column,
                column=model._meta.get_field(field_name).column,
                field=field_name,
                kind=kind,
            )
        )
    return result


def _without_queued_contact(people: Any) -> Any:
    """``people`` (a queryset) without anyone who has a queued row (a form submission waiting
    in the intake, found by the keyed hash of their email or phone, computed by the database):
    a contact their deadline does not know yet. The drain applies it and moves the deadline;
    until then the sweep leaves them (issue: an erased person re-created by the queue)."""
    from django.db.models import Exists, OuterRef, Q

    from tillit.consent.selectors import KeyedDigest  # same layer; lazy to keep the cycle out

    queued = Q()
    for digest in _digest_tables():
        queued |= Q(
            Exists(digest.model.objects.filter(**{digest.field: KeyedDigest(digest.kind, OuterRef(digest.kind))}))
        )
    return people.exclude(queued) if queued else people


def _delete_queued(digests: Mapping[tuple[str, str], int], *, counts: dict[int, dict[str, int]]) -> None:
    """Delete the queued rows whose keyed hash is one of the erased people's (``digests``:
    (kind, digest) -> person id), in the erasure's transaction: a submission they sent that
    still waits in the intake goes with them (DESIGN.md rule 17). On PostgreSQL a row a drain
    holds right now is skipped, not waited for (the drain holds the row and then wants the
    person: waiting would deadlock); that drain takes the person's lock after this erasure
    commits, and refuses the row as older than the erasure (``capture.process_intake``)."""
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        for t in _digest_tables():
            values = sorted(d for kind, d in digests if kind == t.kind)
            for start in range(0, len(values), 1000):
                chunk = values[start : start + 1000]
                marks = ", ".join(["%s"] * len(chunk))
                if postgres:
                    sql = (
                        f"DELETE FROM {t.table} WHERE {t.pk} IN (SELECT {t.pk} FROM {t.table} "  # noqa: S608
                        f"WHERE {t.column} IN ({marks}) FOR UPDATE SKIP LOCKED) RETURNING {t.column}"
                    )
                else:
                    sql = f"DELETE FROM {t.table} WHERE {t.column} IN ({marks}) RETURNING {t.column}"  # noqa: S608
                cursor.execute(sql, chunk)
                for (value,) in cursor.fetchall():
                    pid = digests[(t.kind, value)]
                    counts[pid][t.table] = counts[pid].get(t.table, 0) + 1


def _raw_cursor() -> Any:
    """A cursor for the set-based statements below. On PostgreSQL it is psycopg's own cursor
    (server-side parameters: an array of 5,000 ids travels as one binary value instead of
    being quoted into the SQL text in Python); it shares Django's connection and transaction."""
    if connection.vendor == "postgresql":
        import psycopg

        connection.ensure_connection()
        return psycopg.Cursor(connection.connection)
    return connection.cursor()


def _delete_people(
    person_ids: Sequence[int], *, now: dt.datetime
) -> tuple[dict[int, dict[str, int]], dict[int, list[dict[str, Any]]]]:
    """Delete every row about the given people from every subject table and then the people
    themselves; returns person id -> table -> rows deleted, and person id -> what a legal hold
    keeps. Set-based: one DELETE ... RETURNING per table, whatever the number of people (on
    PostgreSQL the ids travel as one array and the database counts per person).

    Records under a legal hold (order lines, bookkeeping) are not deleted while the hold lasts:
    one UPDATE per held table detaches them (the link to the person becomes null); those whose
    hold has already ended are deleted like the rest."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    kept: dict[int, list[dict[str, Any]]] = defaultdict(list)
    postgres = connection.vendor == "postgresql"
    params: list[Any]
    if postgres:
        where, params = "= ANY(%b)", [list(person_ids)]
    else:
        where, params = f"IN ({', '.join(['%s'] * len(person_ids))})", list(person_ids)
    with _raw_cursor() as cursor:
        for held in _held_tables():
            _release_held(cursor, held, where, params, now=now, counts=counts, kept=kept)
        for table, column in [*_subject_tables(), *_unheld_links()]:
            if postgres:
                cursor.execute(
                    f"WITH gone AS (DELETE FROM {table} WHERE {column} {where} RETURNING {column} AS pid) "  # noqa: S608
                    "SELECT pid, count(*) FROM gone GROUP BY pid",
                    params,
                )
                for pid, n in cursor.fetchall():
                    counts[pid][table] = n
            else:
                cursor.execute(f"DELETE FROM {table} WHERE {column} {where} RETURNING {column}", params)  # noqa: S608
                for pid, n in Counter(row[0] for row in cursor.fetchall()).items():
                    counts[pid][table] = n
        table = Person._meta.db_table
        cursor.execute(f"DELETE FROM {table} WHERE id {where}", params)  # noqa: S608
    for pid in person_ids:
        counts[pid][table] = 1
    return counts, kept


def _release_held(
    cursor: Any,
    held: HeldTable,
    where: str,
    params: list[Any],
    *,
    now: dt.datetime,
    counts: dict[int, dict[str, int]],
    kept: dict[int, list[dict[str, Any]]],
) -> None:
    """Delete the people's held rows whose hold has ended, and detach the others (kept until
    their hold ends, with no link to the person). Two set-based statements per held table."""
    postgres = connection.vendor == "postgresql"
    moment = now if postgres else connection.ops.adapt_datetimefield_value(now)
    t, c, u = held.table, held.column, held.until_column
    if postgres:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {t} WHERE {c} {where} AND {u} <= %s RETURNING {c} AS pid) "  # noqa: S608
            "SELECT pid, count(*) FROM gone GROUP BY pid",
            [*params, moment],
        )
        gone = cursor.fetchall()
        cursor.execute(
            f"WITH old AS (SELECT id, {c} AS pid FROM {t} WHERE {c} {where} FOR UPDATE), "  # noqa: S608
            f"held AS (UPDATE {t} SET {c} = NULL FROM old WHERE {t}.id = old.id RETURNING old.pid, {t}.{u}) "
            f"SELECT pid, count(*), max({u}) FROM held GROUP BY pid",
            params,
        )
        detached = cursor.fetchall()
    else:
        cursor.execute(
            f"DELETE FROM {t} WHERE {c} {where} AND {u} <= %s RETURNING {c}",  # noqa: S608
            [*params, moment],
        )
        gone = list(Counter(row[0] for row in cursor.fetchall()).items())
        cursor.execute(
            f"SELECT {c}, count(*), max({u}) FROM {t} WHERE {c} {where} GROUP BY {c}",  # noqa: S608
            params,
        )
        detached = cursor.fetchall()
        cursor.execute(f"UPDATE {t} SET {c} = NULL WHERE {c} {where}", params)  # noqa: S608
    for pid, n in gone:
        counts[pid][t] = n
    rule = policy.current().retention.legal_holds[held.hold]
    for pid, n, until in detached:
        if isinstance(until, str):
            until = dt.datetime.fromisoformat(until)
        if until.tzinfo is None:
            until = until.replace(tzinfo=dt.UTC)
        kept[pid].append({"table": t, "rows": n, "hold": held.hold, "basis": rule.basis, "until": until.isoformat()})


@dataclass(frozen=True)
class ErasureResult:
    erased: bool
    message: str
    receipt: ErasureReceipt | None = None


def erase_person(
    *, actor: Actor, now: dt.datetime, person_id: int, reason: str, suppress: bool | None = None
) -> ErasureResult:
    """Erase one person everywhere, in one transaction, and write the receipt. An unknown or
    already erased person is a no-op with a message. ``suppress`` (default: when the reason is
    a withdrawal or an objection) puts keyed hashes of the email and phone on the
    suppression list, so no import or partner list can bring the person back."""
    if reason not in ERASURE_REASONS:
        raise ValueError(f"unknown erasure reason {reason!r}")
    # No savepoint inside a caller's transaction: if the erasure fails, the caller's whole
    # action (a request, a withdrawal) must fail with it.
    with transaction.atomic(savepoint=False):
        row = (
            Person.objects.select_for_update()
            .filter(pk=person_id)
            .values("pk", "pseudonym", "retain_reason", "email", "phone")
            .first()
        )
        if row is None:
            return ErasureResult(False, "nothing to erase: no such person (never stored, or already erased)")
        organization_id = Person.objects.filter(pk=person_id).values_list("organization_id", flat=True).first()
        receipts = _erase_rows(actor=actor, now=now, rows=[row], reason=reason, suppress=suppress)
        if organization_id is not None:
            _erase_unlinked_sole_proprietorships(actor=actor, now=now, organization_ids=[organization_id])
    return ErasureResult(True, "erased", receipts[0])


def _erase_unlinked_sole_proprietorships(
    *, actor: Actor, now: dt.datetime, organization_ids: Sequence[int] | None = None
) -> int:
    """§6: a sole proprietorship is its owner's personal data. Erase those no person is linked
    to any more: of ``organization_ids`` (the organisation of a person just erased: it goes with
    them), or, with None, every one the register last gave or changed before the policy's
    ``years_without_person`` (the sweep). Their provenance goes with them (cascade). Audited."""
    current = policy.current()
    forms = sorted(current.sole_proprietorships.forms)
    if not forms:
        return 0
    linked = Person.objects.filter(organization_id=OuterRef("pk"))
    candidates = Organization.objects.filter(organisation_form__in=forms)
    if organization_ids is not None:
        candidates = candidates.filter(pk__in=list(organization_ids))
    else:
        candidates = candidates.filter(updated_at__lte=sole_proprietorship.obtained_before(current, now))
    # Lock, then read: the organisations first, then whether anyone is linked to them now.
    locked = list(candidates.select_for_update().values_list("pk", flat=True).order_by("pk"))
    if not locked:
        return 0
    ids = list(
        Organization.objects.filter(pk__in=locked).filter(~Exists(linked)).values_list("pk", flat=True).order_by("pk")
    )
    if not ids:
        return 0
    Organization.objects.filter(pk__in=ids).delete()
    for organization_id in ids:
        audit_record(
            actor=actor,
            now=now,
            action="erase",
            subject_type="organization",
            subject_id=organization_id,
            fields=["sole_proprietorship"],
        )
    return len(ids)


def erase_sole_proprietorships(*, actor: Actor, now: dt.datetime) -> int:
    """The sweep's part for sole proprietorships (§6): one transaction."""
    with transaction.atomic():
        return _erase_unlinked_sole_proprietorships(actor=actor, now=now)


def _erase_rows(
    *, actor: Actor, now: dt.datetime, rows: Sequence[Mapping[str, Any]], reason: str, suppress: bool | None
) -> list[ErasureReceipt]:
    """Erase the people in ``rows`` (already locked) and write their receipts, the suppression
    entries, one notice per processor for the run, and the audit. Runs inside the caller's
    transaction. One person: an audit entry for them; a sweep batch: one entry for the batch
    (the receipts are the record per person)."""
    from tillit.consent.models import SuppressionEntry  # same layer; imported here to keep the cycle lazy

    if suppress is None:
        suppress = reason in SUPPRESSING_REASONS
    ids = [r["pk"] for r in rows]
    # The erasure's mark on the consent ledger: the database deletes an entry only once it has one.
    ledgers.mark_for_removal("consent", scopes=ids, reason=f"erasure:{reason}", now=now)
    counts, kept = _delete_people(ids, now=now)
    digests_of = {
        r["pk"]: identifier_digests(email=r["email"], phone=r["phone"], key=settings.TILLIT_IDENTIFIER_KEY)
        for r in rows
    }
    _delete_queued({pair: pid for pid, pairs in digests_of.items() for pair in pairs}, counts=counts)
    batch = uuid.uuid4()
    receipts = []
    suppressions: list[Any] = []
    for r in rows:
        digests = digests_of[r["pk"]]
        receipts.append(
            ErasureReceipt(
                pseudonym=r["pseudonym"],
                batch=batch,
                erased_at=now,
                reason=reason,
                rule=r["retain_reason"],
                # What a legal hold keeps (detached, without the person) is listed under "kept",
                # with the hold, its basis in law and until when (policy §9).
                counts={**counts[r["pk"]], **({"kept": kept[r["pk"]]} if kept.get(r["pk"]) else {})},
                actor_label=actor.label,
                identifier_digests=[d for _, d in digests],
            )
        )
        if suppress:
            suppressions.extend(
                SuppressionEntry(digest=d, channel=kind, reason=reason, created_at=now) for kind, d in digests
            )
    _insert_receipts(receipts)
    if suppressions:
        SuppressionEntry.objects.bulk_create(suppressions, ignore_conflicts=True)
    ErasureNotice.objects.bulk_create(
        [
            ErasureNotice(
                batch=batch, people=len(receipts), recipient_kind="processor", recipient_key=key, created_at=now
            )
            for key in policy.current().processors
        ]
    )
    if len(ids) == 1:
        audit_record(actor=actor, now=now, action="erase", subject_type="person", subject_id=ids[0])
    else:
        audit_record(
            actor=actor,
            now=now,
            action="erase",
            subject_type="erasure_batch",
            subject_id=None,
            fields=[f"people:{len(ids)}"],
        )
    return receipts


def _insert_receipts(receipts: list[ErasureReceipt]) -> None:
    """Insert receipts in one statement (on PostgreSQL, columns as arrays through unnest)."""
    if connection.vendor != "postgresql" or len(receipts) < 50:
        ErasureReceipt.objects.bulk_create(receipts)
        return
    table = ErasureReceipt._meta.db_table
    with _raw_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (pseudonym, batch, erased_at, reason, rule, counts, actor_label, "  # noqa: S608
            "identifier_digests) SELECT p, b, e, r, ru, c::jsonb, a, d::jsonb FROM unnest("
            "%b::uuid[], %b::uuid[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[]"
            ") AS v(p, b, e, r, ru, c, a, d)",
            [
                [r.pseudonym for r in receipts],
                [r.batch for r in receipts],
                [r.erased_at for r in receipts],
                [r.reason for r in receipts],
                [r.rule for r in receipts],
                [json.dumps(r.counts) for r in receipts],
                [r.actor_label for r in receipts],
                [json.dumps(r.identifier_digests) for r in receipts],
            ],
        )


@dataclass
class SweepSummary:
    erased: int = 0
    batches: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    # Detached records under a legal hold deleted because their hold ended, per table.
    held_deleted: dict[str, int] = field(default_factory=dict)
    # Sole proprietorships (§6) erased: no person linked, past the policy's period.
    sole_proprietorships: int = 0


def sweep(
    *,
    actor: Actor,
    now: dt.datetime,
    batch_size: int = 5_000,
    progress: Callable[[int, int], None] | None = None,
) -> SweepSummary:
    """Erase everyone whose deadline has passed, ``batch_size`` people per transaction.
    Raises ``ConflictError`` if another sweep is running.

    On PostgreSQL a person whose row another transaction holds (a consent being recorded, an
    order) is passed over at first (``SKIP LOCKED``: the sweep never queues behind a busy row),
    and tried again at the end of the run, this time waiting for the lock (at most
    ``SWEEP_RETRY_LOCK_TIMEOUT`` per batch): the deadline is read again once the lock is held,
    so whoever the other transaction kept is kept, and the rest are erased the same day."""
    summary = SweepSummary()
    with exclusive("sweep"):
        total = Person.objects.filter(retain_until__lte=now).count()
        postgres = connection.vendor == "postgresql"
        for retry in (False, True) if postgres else (False,):
            last_pk = 0
            while True:
                rows = _sweep_batch(actor=actor, now=now, after_pk=last_pk, size=batch_size, wait=retry)
                if rows is None:  # the retry still found a row locked: left for the next run
                    break
                if not rows:
                    break
                last_pk = rows[-1]["pk"]
                summary.erased += len(rows)
                summary.batches += 1
                for r in rows:
                    summary.by_reason[r["retain_reason"]] = summary.by_reason.get(r["retain_reason"], 0) + 1
                if progress:
                    progress(summary.erased, max(total, summary.erased))
        summary.held_deleted = _delete_expired_holds(actor=actor, now=now)
        summary.sole_proprietorships = erase_sole_proprietorships(actor=actor, now=now)
    if summary.erased:
        audit_record(actor=actor, now=now, action="sweep", subject_type="retention", subject_id=None)
    return summary


# How long the sweep's retry at the end of its run waits for a row another transaction holds.
SWEEP_RETRY_LOCK_TIMEOUT = "30s"


def _sweep_batch(
    *, actor: Actor, now: dt.datetime, after_pk: int, size: int, wait: bool
) -> list[dict[str, Any]] | None:
    """Lock and erase the next ``size`` people past their deadline after ``after_pk``, in one
    transaction; returns them. First pass (``wait`` False): rows locked by others are skipped.
    The retry (``wait`` True, PostgreSQL) waits for them; the deadline is checked again on the
    locked row (PostgreSQL re-evaluates the condition on the row version it locked). Returns
    None if a row was still held after ``SWEEP_RETRY_LOCK_TIMEOUT`` (nothing erased)."""
    from django.db import OperationalError

    try:
        with transaction.atomic():
            # Keyset pagination: each batch starts after the last one, never rescanning.
            people = Person.objects.filter(retain_until__lte=now, pk__gt=after_pk).order_by("pk")
            people = _without_queued_contact(people)  # a queued contact moves the deadline first
            people = people.exclude(held_by_restriction_q())  # art. 18(1)(b), (c): kept until lifted
            if connection.vendor == "postgresql":
                if wait:
                    with connection.cursor() as cursor:
                        cursor.execute(f"SET LOCAL lock_timeout = '{SWEEP_RETRY_LOCK_TIMEOUT}'")
                    people = people.select_for_update()
                else:
                    people = people.select_for_update(skip_locked=True)
            rows: list[dict[str, Any]] = [
                dict(row) for row in people.values("pk", "pseudonym", "retain_reason", "email", "phone")[:size]
            ]
            if rows:
                _erase_rows(actor=actor, now=now, rows=rows, reason="sweep", suppress=False)
    except OperationalError:
        if not wait:
            raise
        return None
    return rows


def _delete_expired_holds(*, actor: Actor, now: dt.datetime) -> dict[str, int]:
    """Delete the detached records whose legal hold has ended (one DELETE per held table, in
    its own transaction, with one audit entry naming the tables and counts)."""
    deleted: dict[str, int] = {}
    with transaction.atomic():
        with connection.cursor() as cursor:
            for held in _held_tables():
                cursor.execute(
                    f"DELETE FROM {held.table} WHERE {held.column} IS NULL AND {held.until_column} <= %s",  # noqa: S608
                    [now],
                )
                if cursor.rowcount:
                    deleted[held.table] = cursor.rowcount
        if deleted:
            audit_record(
                actor=actor,
                now=now,
                action="hold_ended",
                subject_type="retention",
                subject_id=None,
                fields=[f"{table}:{n}" for table, n in sorted(deleted.items())],
            )
    return deleted


_HELD: set[str] = set()


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Hold a lock that only one holder at a time can have, released if the process dies:
    a PostgreSQL session advisory lock, or an flock on a file beside the SQLite database
    (and, within one process, a set of held names, as advisory locks are re-entrant)."""
    if name in _HELD:
        raise ConflictError(f"another {name} is running; try again when it has finished")
    _HELD.add(name)
    try:
        with _process_lock(name):
            yield
    finally:
        _HELD.discard(name)


@contextlib.contextmanager
def _process_lock(name: str) -> Iterator[None]:
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"tillit:{name}".encode()).digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            (acquired,) = cursor.fetchone()
        if not acquired:
            raise ConflictError(f"another {name} is running; try again when it has finished")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    path = Path(str(connection.settings_dict["NAME"]) + f".{name}.lock")
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConflictError(f"another {name} is running; try again when it has finished") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
