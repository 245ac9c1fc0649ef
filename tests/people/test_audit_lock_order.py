"""Global locks last (DESIGN.md rule 15): no transaction waits for a person's row while it
holds the audit chain's lock.

The reproduced case (issue 24, item 5): an uploaded email addressed to two people locked the
first person, took the chain lock (held until commit) and then waited for the second; a form
submission by the second person held that row and then wanted the chain lock. PostgreSQL
reported ``deadlock detected`` and one of them failed. PostgreSQL only: SQLite has one
writer at a time, so neither can hold a lock the other waits for."""

from __future__ import annotations

import datetime as dt
import threading
import time
from email.message import EmailMessage

import pytest
from django.db import connection, transaction

from tillit.audit import services as audit
from tillit.audit.selectors import verify_chain
from tillit.capture import services as capture
from tillit.people import services as people
from tillit.people.models import Interaction

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks and the chain's advisory lock are PostgreSQL's; SQLite has one writer")


@pytest.fixture
def two_people(system_actor, now):  # type: ignore[no-untyped-def]
    """Kari (the lower id) and Per (the higher), registered a while ago."""
    before = now - dt.timedelta(days=30)
    kari = people.create_person(
        actor=system_actor, now=before, source="form", values={"name": "Kari Testesen", "email": "kari@example.com"}
    )
    per = people.create_person(
        actor=system_actor, now=before, source="form", values={"name": "Per Testesen", "email": "per@example.com"}
    )
    assert kari.pk < per.pk
    return kari, per


@pytest.fixture
def contact_form(system_actor, now):  # type: ignore[no-untyped-def]
    return capture.create_form(
        actor=system_actor, now=now, name="Contact us", language="en", fields=[{"name": "name"}, {"name": "email"}]
    )


def offer_to_both() -> bytes:
    """Our offer, sent to Kari with Per in copy (outbound: it lands on both timelines)."""
    message = EmailMessage()
    message["From"] = "Selger <selger@avara.no>"
    message["To"] = "Kari Testesen <kari@example.com>"
    message["Cc"] = "Per Testesen <per@example.com>"
    message["Subject"] = "Offer for 40 licences"
    message["Date"] = "Mon, 23 Nov 2026 09:00:00 +0100"
    message.set_content("Here is the offer we talked about.")
    return message.as_bytes()


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _blocked_by(waiter: int, holder: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s = ANY(pg_blocking_pids(%s))", [holder, waiter])
        return bool(cursor.fetchone()[0])


def test_an_upload_waiting_for_the_second_addressee_does_not_hold_the_audit_chain(
    staff_actor, now, two_people, contact_form
):
    kari, per = two_people
    sales = staff_actor("sales")
    uploader: list[int] = []
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            uploader.append(_backend_pid())
            people.record_email_message(actor=sales, now=now, raw=offer_to_both())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    # Per submits a form: the submission holds Per's row, and appends its audit entries (the
    # chain lock) at its end, exactly as ``submit_form`` does.
    valid = capture.validate_submission(
        public_id=contact_form.public_id, data={"name": "Per Testesen", "email": "per@example.com"}
    )
    with transaction.atomic(), audit.deferred():
        capture.apply_submission(actor=capture.SUBMITTER, now=now, valid=valid)
        holder = _backend_pid()
        worker = threading.Thread(target=upload)
        worker.start()
        deadline = time.monotonic() + 20
        while not (uploader and _blocked_by(uploader[0], holder)):
            assert worker.is_alive(), f"the upload did not wait for Per's row: {errors}"
            assert time.monotonic() < deadline, "the upload never waited for Per's row"
            time.sleep(0.01)
        # Leaving the block appends the submission's entries: it needs the chain lock now,
        # while the upload waits for Per. Before the fix the upload held it: deadlock.
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert errors == []
    assert Interaction.objects.filter(person=per, kind="form").count() == 1
    assert Interaction.objects.filter(person__in=[kari, per], kind="email").count() == 2
    assert verify_chain().is_intact


def _run_together(steps: list, seconds: float) -> list[BaseException]:  # type: ignore[type-arg]
    """Run each step in a thread of its own, all started together at a barrier, round after
    round, for about ``seconds``; returns the errors (a deadlock is one)."""
    errors: list[BaseException] = []
    stop = time.monotonic() + seconds
    state = {"done": False}
    barrier = threading.Barrier(len(steps), action=lambda: state.update(done=time.monotonic() > stop or bool(errors)))

    def run(step) -> None:  # type: ignore[no-untyped-def]
        try:
            while True:
                barrier.wait(timeout=30)
                if state["done"]:
                    return
                try:
                    step()
                except BaseException as error:
                    errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(step,)) for step in steps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_uploads_and_submissions_run_together_many_times_without_a_deadlock(staff_actor, now, two_people, contact_form):
    """Both paths side by side, round after round, for about three seconds: an upload to Kari
    and Per, and a form submission by each of them."""
    kari, per = two_people
    sales = staff_actor("sales")

    def submit(name: str, email: str):  # type: ignore[no-untyped-def]
        return lambda: capture.submit_form(
            actor=capture.SUBMITTER, now=now, public_id=contact_form.public_id, data={"name": name, "email": email}
        )

    errors = _run_together(
        [
            lambda: people.record_email_message(actor=sales, now=now, raw=offer_to_both()),
            submit("Per Testesen", "per@example.com"),
            submit("Kari Testesen", "kari@example.com"),
        ],
        seconds=3,
    )
    assert errors == []
    rounds = Interaction.objects.filter(person=kari, kind="email").count()
    assert rounds > 3, "the paths ran together several times"
    assert Interaction.objects.filter(person=per, kind="email").count() == rounds
    assert Interaction.objects.filter(person=per, kind="form").count() == rounds
    assert verify_chain().is_intact


def test_a_drained_batch_and_uploads_run_together_without_a_deadlock(
    staff_actor, now, two_people, contact_form, settings
):
    """A drain batch holds Per's submission before Kari's (queue order, not id order); the
    upload locks Kari and Per. The batch locks its people in id order first, so neither waits
    for the other in a cycle, and a batch of queued submissions never fails for it."""
    kari, per = two_people
    sales = staff_actor("sales")
    settings.TILLIT_FORM_INTAKE = "queued"
    capture._kick.update(at=time.monotonic(), task_id="")

    def drain() -> None:
        for name, email in (("Per Testesen", "per@example.com"), ("Kari Testesen", "kari@example.com")):
            capture.receive_submission(
                actor=capture.SUBMITTER, now=now, public_id=contact_form.public_id, data={"name": name, "email": email}
            )
        capture.process_intake(actor=capture.SUBMITTER, now=now)

    errors = _run_together(
        [drain, lambda: people.record_email_message(actor=sales, now=now, raw=offer_to_both())], seconds=2
    )
    assert errors == []
    rounds = Interaction.objects.filter(person=kari, kind="email").count()
    assert rounds > 3
    assert Interaction.objects.filter(person=per, kind="form").count() == rounds
    assert verify_chain().is_intact
