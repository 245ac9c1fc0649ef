"""The renewal email's claim against real row locks (PostgreSQL): two workers claiming the
same renewal at once, one wins; a withdrawal committing while the claim waits for the
person's lock is seen by the claim (lock, then read), so nothing is sent."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections, transaction

from tillit.consent import renewals, services
from tillit.consent.models import ConsentRenewal
from tillit.core.actors import Actor
from tillit.people import services as people
from tillit.people.models import Person
from tillit.policy.retention import add_years

from ..interleaving import Background, backend_pid, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)
GIVEN = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
WINDOW = add_years(GIVEN, 2) - dt.timedelta(days=30)
ACTOR = Actor.system("tests")


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: these interleavings cannot happen there")


@pytest.fixture
def due() -> tuple[Person, ConsentRenewal]:
    person = people.create_person(
        actor=ACTOR, now=GIVEN, source="form", values={"name": "Kari Nordmann", "email": "kari@example.com"}
    )
    people.start_customer_relationship(actor=ACTOR, now=GIVEN, person_id=person.pk)  # kept after withdrawing
    services.record_consent(
        actor=ACTOR,
        now=GIVEN,
        person_id=person.pk,
        purpose="newsletter",
        channel="email",
        source_kind="form",
        wording="Yes, send me the newsletter from Avara AS.",
        language="en",
    )
    assert renewals.record_due(now=WINDOW) == 1
    return person, ConsentRenewal.objects.get()


def test_two_workers_claiming_the_same_renewal_at_once_one_wins(due):
    _, renewal = due
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(renewals.claim(renewal_id=renewal.pk, now=WINDOW + dt.timedelta(minutes=1)) is not None)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    assert ConsentRenewal.objects.get(pk=renewal.pk).status == ConsentRenewal.Status.SENDING


def test_a_withdrawal_committing_while_the_claim_waits_is_seen_by_the_claim(due):
    person, renewal = due
    written = threading.Event()
    waiter = backend_pid()

    def withdraw() -> bool:
        with transaction.atomic():
            services.withdraw_consent(
                actor=ACTOR,
                now=WINDOW,
                person_id=person.pk,
                source_kind="email_link",
                language="en",
                purpose="newsletter",
            )
            written.set()
            return wait_until_blocked(waiter)

    other = Background(withdraw)
    assert written.wait(20)
    claim = renewals.claim(renewal_id=renewal.pk, now=WINDOW + dt.timedelta(minutes=1))
    assert other.result() is True, "the claim waited for the person's lock before reading"
    assert claim is None
    assert ConsentRenewal.objects.get(pk=renewal.pk).status == ConsentRenewal.Status.SKIPPED
