"""The audit log is a hash chain: numbered without gaps, each entry hashed with the one before
it, so an edited, deleted or reordered entry is found and named; and it never holds a
person's values, only ids and field names."""

from __future__ import annotations

import importlib
import threading
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection, transaction

from tests.audit.conftest import raw_sql, swap_sequences
from tillit.audit import selectors, services
from tillit.audit.chain import GENESIS
from tillit.audit.models import AuditEntry
from tillit.core.actors import Actor
from tillit.people import services as people
from tillit.retention import services as retention


@pytest.mark.django_db
class TestAnIntactChain:
    def test_normal_writes_make_an_intact_chain(self, people_log):
        report = selectors.verify_chain()
        assert report.is_intact
        assert report.entries == AuditEntry.objects.count()
        last = AuditEntry.objects.order_by("-sequence").first()
        assert (report.last_sequence, report.last_hash) == (last.sequence, last.hash)

    def test_entries_are_numbered_from_one_and_each_links_to_the_one_before(self, people_log):
        rows = list(AuditEntry.objects.order_by("sequence").values_list("sequence", "prev_hash", "hash"))
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
        assert rows[0][1] == GENESIS
        assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))
        assert all(len(r[2]) == 64 and int(r[2], 16) >= 0 for r in rows)

    def test_an_empty_log_is_intact(self):
        report = selectors.verify_chain()
        assert report.is_intact
        assert report.entries == 0

    def test_a_batch_continues_the_chain(self, system_actor, now):
        services.record(actor=system_actor, now=now, action="read", subject_type="person", subject_id=1)
        services.record_many(
            actor=system_actor,
            now=now,
            action="search",
            subject_type="person",
            subject_ids=range(2, 502),
            fields=["name", "email"],
        )
        services.record_many(actor=system_actor, now=now, action="search", subject_type="person", subject_ids=[])
        services.record(actor=system_actor, now=now, action="read", subject_type="person", subject_id=2)
        assert AuditEntry.objects.count() == 502
        assert selectors.verify_chain().is_intact
        assert AuditEntry.objects.get(sequence=300).fields == ["email", "name"]

    def test_an_erasure_is_audited_in_the_chain(self, system_actor, now):
        person = people.create_person(actor=system_actor, now=now, source="form", values={"name": "Gone Soon"})
        retention.erase_person(actor=system_actor, now=now, person_id=person.pk, reason="request")
        erase = AuditEntry.objects.get(action="erase", subject_id=person.pk)
        assert erase.fields == []
        assert selectors.verify_chain().is_intact

    def test_a_rolled_back_action_leaves_no_gap(self, system_actor, now):
        services.record(actor=system_actor, now=now, action="read", subject_type="person", subject_id=1)

        def failing_action() -> None:
            with transaction.atomic():
                services.record(actor=system_actor, now=now, action="read", subject_type="person", subject_id=2)
                raise RuntimeError("the action failed")

        with pytest.raises(RuntimeError):
            failing_action()
        services.record(actor=system_actor, now=now, action="read", subject_type="person", subject_id=3)
        assert list(AuditEntry.objects.order_by("sequence").values_list("sequence", "subject_id")) == [(1, 1), (2, 3)]
        assert selectors.verify_chain().is_intact

    def test_the_migration_chains_entries_written_before_the_chain_existed(self, system_actor, now):
        services.record_many(actor=system_actor, now=now, action="read", subject_type="person", subject_ids=range(7))
        # As the entries stood before the migration: no numbers, no hashes (placeholders here,
        # as the test database is built from the final model).
        raw_sql("UPDATE {table} SET sequence = -id, prev_hash = '', hash = ''")
        migration = importlib.import_module("tillit.audit.migrations.0002_hash_chain")
        migration.chain_existing(apps, SimpleNamespace(connection=connection))
        assert list(AuditEntry.objects.order_by("pk").values_list("sequence", flat=True)) == list(range(1, 8))
        assert selectors.verify_chain().is_intact


@pytest.mark.django_db
class TestABrokenChain:
    def test_an_edited_field_is_found(self, people_log):
        raw_sql("UPDATE {table} SET purpose = 'statistics' WHERE sequence = 5")
        report = selectors.verify_chain()
        assert (report.broken_at, report.kind) == (5, "edited")

    @pytest.mark.parametrize("column", ["subject_id", "actor_user_id"])
    def test_an_edited_id_is_found(self, people_log, column):
        raw_sql(f"UPDATE {{table}} SET {column} = 999999 WHERE sequence = 4")
        assert (selectors.verify_chain().broken_at, selectors.verify_chain().kind) == (4, "edited")

    def test_an_edited_time_is_found(self, people_log, now):
        AuditEntry.objects.filter(sequence=6).update(at=now.replace(microsecond=1))
        assert selectors.verify_chain().kind == "edited"

    def test_a_removed_field_name_is_found(self, people_log):
        target = next(e for e in AuditEntry.objects.order_by("sequence") if len(e.fields) > 1)
        AuditEntry.objects.filter(pk=target.pk).update(fields=target.fields[1:])
        report = selectors.verify_chain()
        assert (report.broken_at, report.kind) == (target.sequence, "edited")

    def test_an_edited_hash_is_found(self, people_log):
        raw_sql("UPDATE {table} SET hash = %s WHERE sequence = 3", ["f" * 64])
        assert (selectors.verify_chain().broken_at, selectors.verify_chain().kind) == (3, "edited")

    def test_an_edited_link_is_found(self, people_log):
        raw_sql("UPDATE {table} SET prev_hash = %s WHERE sequence = 3", ["f" * 64])
        assert (selectors.verify_chain().broken_at, selectors.verify_chain().kind) == (3, "edited")

    @pytest.mark.parametrize("deleted", [1, 2, 7])
    def test_a_deleted_entry_is_found(self, people_log, deleted):
        raw_sql("DELETE FROM {table} WHERE sequence = %s", [deleted])
        report = selectors.verify_chain()
        assert (report.broken_at, report.kind) == (deleted, "deleted")

    def test_a_deletion_covered_by_renumbering_is_found(self, people_log):
        raw_sql("DELETE FROM {table} WHERE sequence = 4")
        for sequence in range(5, AuditEntry.objects.count() + 2):
            raw_sql("UPDATE {table} SET sequence = %s WHERE sequence = %s", [sequence - 1, sequence])
        report = selectors.verify_chain()
        assert (report.broken_at, report.kind) == (4, "deleted")

    @pytest.mark.parametrize(("a", "b"), [(4, 5), (2, 9), (1, 2)])
    def test_swapped_entries_are_found(self, people_log, a, b):
        swap_sequences(a, b)
        report = selectors.verify_chain()
        assert (report.broken_at, report.kind) == (a, "reordered")


@pytest.mark.django_db
class TestAnAnchorNotedOutsideTheDatabase:
    """What the chain alone cannot show: the newest entries deleted, or everything from some
    entry on rewritten with fresh hashes. A head noted earlier catches both."""

    def test_the_noted_head_still_there_passes(self, people_log, system_actor, now):
        head = selectors.verify_chain()
        services.record(actor=system_actor, now=now, action="read", subject_type="person", subject_id=1)
        report = selectors.verify_chain(anchor=(head.last_sequence, head.last_hash))
        assert report.is_intact
        assert report.last_sequence == head.last_sequence + 1

    def test_deleting_the_newest_entries_is_found(self, people_log):
        head = selectors.verify_chain()
        raw_sql("DELETE FROM {table} WHERE sequence >= %s", [head.last_sequence - 1])
        assert selectors.verify_chain().is_intact  # invisible without the anchor
        report = selectors.verify_chain(anchor=(head.last_sequence, head.last_hash))
        assert (report.broken_at, report.kind) == (head.last_sequence - 1, "deleted")

    def test_a_rewritten_and_rehashed_tail_is_found(self, people_log, system_actor, now):
        head = selectors.verify_chain()
        raw_sql("DELETE FROM {table} WHERE sequence >= %s", [head.last_sequence - 2])
        services.record_many(
            actor=system_actor, now=now, action="read", subject_type="person", subject_ids=[1, 2, 3, 4]
        )
        assert selectors.verify_chain().is_intact  # a consistent forgery
        report = selectors.verify_chain(anchor=(head.last_sequence, head.last_hash))
        assert (report.broken_at, report.kind) == (head.last_sequence, "edited")


@pytest.mark.django_db
def test_the_log_holds_ids_and_field_names_never_the_values(people_log, staff_actor, now):
    """Create, read, search and correct people: no audit row holds a name, an email, a phone
    number or a search term."""
    text = " ".join(str(row) for row in AuditEntry.objects.values_list())
    for value in ("Ingrid", "Testesen", "ingrid.testesen@example.com", "example.com", "41234567", "Prøvesen", "CFO"):
        assert value not in text
    person = people_log[0]
    read = AuditEntry.objects.filter(action="read", subject_type="person", subject_id=person.pk).first()
    assert read is not None
    assert read.purpose == "sales_dialogue"
    assert {"name", "email"} <= set(read.fields)


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain(now):
    """Writers on several connections at once: every entry is numbered once, none is lost."""
    threads, per_thread = 4, 25
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            actor = Actor.system(f"writer-{n}")
            for i in range(per_thread):
                if i % 5 == 0:
                    services.record_many(
                        actor=actor, now=now, action="search", subject_type="person", subject_ids=[n, i, n + i]
                    )
                else:
                    services.record(actor=actor, now=now, action="read", subject_type="person", subject_id=i)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors
    singles, batches = per_thread - per_thread // 5, per_thread // 5
    assert AuditEntry.objects.count() == threads * (singles + 3 * batches)
    assert selectors.verify_chain().is_intact
