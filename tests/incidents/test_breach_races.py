"""Races of the breach register, forced on PostgreSQL with real locks: an erasure running while
people are attached either takes the person first (not attached) or waits for the attach and
then removes them (no error, nobody left behind); two workers claiming one notice at once:
one wins."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction

from tillit.core.actors import Actor
from tillit.incidents import selectors, services
from tillit.incidents.models import AffectedPerson
from tillit.people import selectors as people_selectors
from tillit.people import services as people
from tillit.people.models import Person
from tillit.retention import services as retention

from ..interleaving import Background, backend_pid, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)
AWARE = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("forces an interleaving with PostgreSQL row locks")


@pytest.fixture
def setting(staff_actor):  # type: ignore[no-untyped-def]
    officer, support = staff_actor("privacy_officer"), staff_actor("customer_support")
    incident = services.record_incident(
        actor=officer,
        now=AWARE,
        aware_at=AWARE,
        title="Session hijacked",
        description="A support session was used from an unknown address.",
        categories=["name", "email"],
        approximate_people=1,
        consequences="Unwanted emails.",
        measures="Sessions ended.",
    )
    kari = people.create_person(
        actor=SYSTEM,
        now=AWARE - dt.timedelta(days=9),
        source="form",
        values={"name": "Kari", "email": "kari@example.com"},
    )
    people_selectors.get_person(actor=support, now=AWARE - dt.timedelta(hours=1), person_id=kari.pk)
    question = selectors.ReadByStaff(support.user_id, AWARE - dt.timedelta(hours=2), AWARE)
    return officer, incident, kari, question


def test_an_erasure_waits_for_an_attach_that_locked_the_person_and_then_removes_them(setting) -> None:  # type: ignore[no-untyped-def]
    officer, incident, kari, question = setting
    attached = threading.Event()
    release = threading.Event()

    def attach() -> int:
        with transaction.atomic():
            added = services.attach_affected(actor=officer, now=AWARE, incident_id=incident.pk, question=question)
            attached.set()
            release.wait(10)  # hold the locks until the erasure is seen waiting
        return added

    attaching = Background(attach)
    assert attached.wait(10)
    erasing_pid: list[int] = []
    started = threading.Event()

    def erase() -> bool:
        erasing_pid.append(backend_pid())
        started.set()
        return retention.erase_person(actor=SYSTEM, now=AWARE, person_id=kari.pk, reason="request").erased

    erasing = Background(erase)
    assert started.wait(10)
    assert wait_until_blocked(erasing_pid[0]), "the erasure waits for the attach's lock on the person"
    release.set()
    assert attaching.result() == 1
    assert erasing.result() is True
    assert not Person.objects.filter(pk=kari.pk).exists()
    assert not AffectedPerson.objects.filter(incident=incident).exists(), "erased: no longer in the set"


def test_two_workers_claiming_one_notice_at_once_one_wins(setting) -> None:  # type: ignore[no-untyped-def]
    officer, incident, _kari, question = setting
    services.attach_affected(actor=officer, now=AWARE, incident_id=incident.pk, question=question)
    services.request_notices(actor=officer, now=AWARE, incident_id=incident.pk)
    row = AffectedPerson.objects.get(incident=incident)
    barrier = threading.Barrier(2)

    def claim() -> object:
        barrier.wait(10)
        return services.claim_notice(now=AWARE, affected_id=row.pk)

    first, second = Background(claim), Background(claim)
    claims = [first.result(), second.result()]
    assert sum(c is not None for c in claims) == 1
    assert AffectedPerson.objects.get(pk=row.pk).notice_status == "sending"
