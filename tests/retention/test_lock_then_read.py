"""Lock, then read (DESIGN.md rule 14): a service that waited for a person's row lock decides
from the facts as they are after the wait, never from a snapshot taken before it.

The reproduced case (issue 24, item 3): a service makes a person a customer (no deadline) while
a consent for the same person waits for the row lock; when the consent goes on, it must not
write the old deadline back, or a sweep at that date erases an active customer. The mirror
case: a customer relationship ends meanwhile, and the former customer must get a deadline.
PostgreSQL only: SQLite has one writer at a time, so there is no wait to interleave with."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction

from tillit.capture import services as capture
from tillit.consent import services as consent
from tillit.people import services as people
from tillit.people.models import Person
from tillit.retention import services as retention

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _waits_for(waiter: int, holder: int) -> bool:
    """Whether backend ``waiter`` is blocked by backend ``holder`` right now (read live from
    the lock manager, not from the per-transaction statistics snapshot)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s = ANY(pg_blocking_pids(%s))", [holder, waiter])
        return bool(cursor.fetchone()[0])


def _consent_while_locked(actor, person_id: int, now: dt.datetime, change) -> None:  # type: ignore[no-untyped-def]
    """Hold the person's row lock in this connection while ``change`` runs in it; start a
    consent for the person in another connection, wait until it is blocked on that lock, and
    only then commit ``change``. Returns when the consent has committed."""
    waiter_pid: list[int] = []
    errors: list[BaseException] = []

    def give_consent() -> None:
        try:
            waiter_pid.append(_backend_pid())
            consent.record_consent(
                actor=actor,
                now=now,
                person_id=person_id,
                purpose="newsletter",
                channel="email",
                source_kind="form",
                wording="Yes, send me the newsletter.",
                language="en",
            )
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    with transaction.atomic():
        change()  # takes the person's row lock, held until this block commits
        holder = _backend_pid()
        worker = threading.Thread(target=give_consent)
        worker.start()
        deadline = time.monotonic() + 20
        while not (waiter_pid and _waits_for(waiter_pid[0], holder)):
            assert worker.is_alive(), f"the consent did not wait for the row lock: {errors}"
            assert time.monotonic() < deadline, "the consent never waited for the row lock"
            time.sleep(0.01)
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert errors == []


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks and READ COMMITTED snapshots are PostgreSQL's; SQLite has one writer")


def test_a_consent_that_waited_for_an_order_does_not_write_the_old_deadline_back(postgres_only, system_actor, now):
    person = people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Kari Testesen", "email": "kari@example.com"}
    )
    person.refresh_from_db()
    assert person.retain_until is not None, "a registered person has a deadline"

    _consent_while_locked(
        system_actor,
        person.pk,
        now,
        lambda: capture.start_service(actor=system_actor, now=now, person_id=person.pk, product="Avara Backup"),
    )

    person.refresh_from_db()
    assert (person.retain_until, person.retain_reason) == (None, "customer"), (
        "an active customer has no deadline: the consent wrote back the one from before the order"
    )
    # And so the sweep on the old date leaves the customer alone.
    retention.sweep(actor=system_actor, now=now + dt.timedelta(days=365 * 3))
    assert Person.objects.filter(pk=person.pk).exists()


def test_a_consent_that_waited_for_the_end_of_a_relationship_gives_the_former_customer_a_deadline(
    postgres_only, system_actor, now
):
    person = people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Kari Testesen", "email": "kari@example.com"}
    )
    service, _ = capture.start_service(actor=system_actor, now=now, person_id=person.pk, product="Avara Backup")
    person.refresh_from_db()
    assert person.retain_until is None, "a customer with an active service has no deadline"
    ended = now + dt.timedelta(days=30)

    _consent_while_locked(
        system_actor,
        person.pk,
        ended,
        lambda: capture.cancel_service(actor=system_actor, now=ended, service_id=service.pk),
    )

    person.refresh_from_db()
    assert person.retain_reason == "customer_ended"
    assert person.retain_until is not None, "a former customer is not kept forever"
    assert person.retain_until.date() == dt.date(2028, 12, 24)
