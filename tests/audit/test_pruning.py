"""Logs and receipts have a lifetime too (issue 16 item 8; policy §9, retention.own_records):
audit entries past the policy's period are pruned in chunks behind signed checkpoints, and
``tillit audit verify`` still proves the rest of the chain (and still catches an entry deleted
by hand); erasure receipts past their period go; both run with the other daily jobs."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from tillit import policy
from tillit.audit import pruning, selectors
from tillit.audit import services as audit
from tillit.audit.models import AuditCheckpoint, AuditEntry
from tillit.cli.management.commands.scheduler import jobs
from tillit.core.actors import Actor
from tillit.core.scheduling import enqueue_due
from tillit.people import services as people
from tillit.policy import retention as rule
from tillit.retention import services as retention
from tillit.retention.models import ErasureReceipt
from tillit.retention.pruning import prune_erasure_receipts
from tillit.retention.tasks import prune_own_records

from .conftest import raw_sql

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2020, 3, 1, 12, tzinfo=dt.UTC)
LATER = dt.datetime(2023, 3, 1, 12, tzinfo=dt.UTC)
NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)  # more than 60 months after T0, fewer after LATER
ACTOR = Actor.system("tests")


def write(n: int, at: dt.datetime) -> None:
    for i in range(n):
        audit.record(actor=ACTOR, now=at + dt.timedelta(seconds=i), action="read", subject_type="person", subject_id=i)


def verify_output() -> str:
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    return out.getvalue()


def test_the_policy_gives_the_audit_log_and_the_receipts_a_lifetime():
    own = policy.current().retention.own_records
    assert own.section == 9
    assert (own.audit_log_months, own.erasure_receipt_months) == (60, 60)
    assert rule.audit_log_cutoff(policy.current(), NOW) == dt.datetime(2020, 6, 1, 12, tzinfo=dt.UTC)


def test_old_entries_are_pruned_and_the_rest_of_the_chain_still_verifies():
    write(7, T0)
    write(3, LATER)
    summary = pruning.prune_audit_log(actor=ACTOR, now=NOW)
    assert (summary.pruned, summary.chunks, summary.through_sequence) == (7, 1, 7)
    assert not AuditEntry.objects.filter(at__lt=summary.cutoff).exists()
    assert AuditEntry.objects.filter(at__gte=LATER, action="read").count() == 3
    prune = AuditEntry.objects.get(action="prune")
    assert (prune.subject_type, prune.subject_id) == ("audit_log", 7)
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.through_sequence, checkpoint.entries) == (7, 7)
    report = selectors.verify_chain()
    assert report.is_intact
    assert (report.entries, report.last_sequence) == (4, 11)
    assert "audit chain intact: 4 entries" in verify_output()
    # The next entries keep chaining to the head, and a second prune has nothing to do.
    write(1, NOW)
    assert pruning.prune_audit_log(actor=ACTOR, now=NOW).pruned == 0
    assert selectors.verify_chain().is_intact


def test_pruning_goes_in_chunks_each_behind_its_own_checkpoint():
    write(10, T0)
    write(1, LATER)
    summary = pruning.prune_audit_log(actor=ACTOR, now=NOW, chunk=3)
    assert (summary.pruned, summary.chunks) == (10, 4)
    assert list(AuditCheckpoint.objects.order_by("through_sequence").values_list("through_sequence", "entries")) == [
        (3, 3),
        (6, 3),
        (9, 3),
        (10, 1),
    ]
    assert selectors.verify_chain().is_intact


def test_an_entry_still_within_its_period_stops_the_cut_and_the_head_always_stays():
    write(2, T0)
    write(1, LATER)
    write(2, T0)  # made "back then" after a recent one: it waits behind it
    assert pruning.prune_audit_log(actor=ACTOR, now=NOW).pruned == 2
    assert AuditEntry.objects.filter(at__lt=T0 + dt.timedelta(days=1)).count() == 2
    # Everything old: all but the newest entry go; the chain keeps its head to link to.
    later = NOW + dt.timedelta(days=20 * 365)
    pruning.prune_audit_log(actor=ACTOR, now=later)
    assert AuditEntry.objects.count() >= 1
    assert selectors.verify_chain().is_intact


def test_an_entry_deleted_by_hand_after_the_cut_is_still_found():
    write(5, T0)
    write(4, LATER)
    pruning.prune_audit_log(actor=ACTOR, now=NOW)
    raw_sql("DELETE FROM {table} WHERE sequence = %s", [6])
    report = selectors.verify_chain()
    assert (report.broken_at, report.kind) == (6, "deleted")


@pytest.mark.parametrize("forgery", ["signature", "through_hash", "deleted"])
def test_a_forged_or_missing_checkpoint_does_not_prove_the_chain(forgery):
    write(5, T0)
    write(4, LATER)
    pruning.prune_audit_log(actor=ACTOR, now=NOW)
    checkpoint = AuditCheckpoint.objects.get()
    if forgery == "signature":
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(signature="0" * 64)
    elif forgery == "through_hash":
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(through_hash="f" * 64)
    else:
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).delete()
    report = selectors.verify_chain()
    assert not report.is_intact
    assert (report.broken_at, report.kind) == (1, "deleted")


def test_entries_deleted_from_the_start_without_pruning_are_found():
    write(5, T0)
    raw_sql("DELETE FROM {table} WHERE sequence <= %s", [2])
    report = selectors.verify_chain()
    assert (report.broken_at, report.kind) == (1, "deleted")


def erase_one(n: int, at: dt.datetime) -> None:
    person = people.create_person(
        actor=ACTOR, now=at, source="form", values={"name": f"Test Person{n}", "email": f"test{n}@example.com"}
    )
    retention.erase_person(actor=ACTOR, now=at, person_id=person.pk, reason="staff")


def test_erasure_receipts_past_their_period_are_pruned():
    erase_one(1, T0)
    erase_one(2, LATER)
    summary = prune_erasure_receipts(actor=ACTOR, now=NOW)
    assert summary.pruned == 1
    assert list(ErasureReceipt.objects.values_list("erased_at", flat=True)) == [LATER]
    assert AuditEntry.objects.filter(action="prune", subject_type="erasure_receipts").count() == 1
    assert prune_erasure_receipts(actor=ACTOR, now=NOW).pruned == 0


def test_the_daily_job_prunes_both(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.TILLIT_SWEEP_HOUR = 2
    erase_one(1, T0)
    write(3, T0)
    erase_one(2, LATER)
    with time_machine.travel(NOW, tick=False):
        assert "retention.own_records" in enqueue_due(jobs(), now=timezone.now())
    assert ErasureReceipt.objects.count() == 1
    assert not AuditEntry.objects.filter(at__lt=rule.audit_log_cutoff(policy.current(), NOW)).exists()
    assert selectors.verify_chain().is_intact
    with time_machine.travel(NOW, tick=False):
        assert prune_own_records.call() == {"audit_entries": 0, "erasure_receipts": 0}


def test_the_notice_says_how_long_the_log_and_the_receipts_are_kept(client):
    text = client.get("/privacy?lang=en").content.decode()
    assert "The log of who in our business read or changed your data" in text
    assert "which proves how we kept this notice: 60 months." in text
    assert "The receipt that proves we erased your data (it holds no name or contact details): 60 months." in text


@pytest.mark.django_db(transaction=True)
def test_two_prunes_at_once_cut_each_entry_once():
    """Two workers prune at the same moment (both past a barrier): every old entry goes once,
    each cut has one checkpoint, and the chain still verifies."""
    import threading

    from django.db import connection

    write(40, T0)
    write(1, LATER)
    barrier, errors, pruned = threading.Barrier(2), [], []

    def prune() -> None:
        try:
            barrier.wait(timeout=30)
            pruned.append(pruning.prune_audit_log(actor=ACTOR, now=NOW, chunk=7).pruned)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=prune) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors
    assert sum(pruned) == 40
    assert sum(AuditCheckpoint.objects.values_list("entries", flat=True)) == 40
    assert selectors.verify_chain().is_intact
