"""A person whose row is held by another transaction while the sweep passes is not left until
the next day: the sweep passes over them (it never queues behind a busy row) and tries them
again at the end of its run, waiting for the lock and reading the deadline again under it
(issue 24, item 7). Forced on PostgreSQL: another connection holds the row until the sweep
waits for it. SQLite has one writer at a time: nobody holds a row while the sweep runs."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction

from tillit.people import services as people
from tillit.people.models import Person
from tillit.retention import services as retention
from tillit.retention.models import ErasureReceipt

from ..interleaving import Background, backend_pid, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("holder_keeps_them", [False, True])
def test_a_person_locked_while_the_sweep_passes_is_retried_at_the_end_of_the_run(holder_keeps_them, system_actor, now):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: no row is held while the sweep runs")
    first, busy, last = (
        people.create_person(
            actor=system_actor, now=now, source="form", values={"name": f"Expired {i}", "email": f"e{i}@example.com"}
        )
        for i in range(3)
    )
    Person.objects.filter(pk__in=[first.pk, busy.pk, last.pk]).update(retain_until=now - dt.timedelta(days=1))
    sweeper = backend_pid()
    holding = threading.Event()

    def hold_the_row() -> bool:
        with transaction.atomic():
            Person.objects.select_for_update().filter(pk=busy.pk).values_list("pk").first()
            if holder_keeps_them:  # e.g. a new contact moved their deadline
                Person.objects.filter(pk=busy.pk).update(retain_until=now + dt.timedelta(days=365))
            holding.set()
            return wait_until_blocked(sweeper)

    other = Background(hold_the_row)
    assert holding.wait(20)
    summary = retention.sweep(actor=system_actor, now=now, batch_size=2)
    assert other.result() is True, "the sweep came back for the busy row and waited for it"

    assert not Person.objects.filter(pk__in=[first.pk, last.pk]).exists()
    if holder_keeps_them:
        assert summary.erased == 2
        assert Person.objects.filter(pk=busy.pk).exists(), "the deadline read under the lock keeps them"
    else:
        assert summary.erased == 3
        assert not Person.objects.filter(pk=busy.pk).exists(), "erased the same day, not the next"
        assert ErasureReceipt.objects.filter(pseudonym=busy.pseudonym, reason="sweep").exists()
