"""A verified erasure request whose web worker (gunicorn) is killed (SIGKILL) in the middle of
the erasure: the person is whole (nothing half-erased), the request is not lost (still awaiting
its verification, the same link still works), and clicking again completes it.

"In the middle" is made certain, not left to timing: the test holds the audit chain's lock, so
the erasure stops at its audit entry after it has already written (its transaction has an id);
only then is the worker killed. PostgreSQL only: on SQLite a writer waits for the whole
database before it writes anything, so there is no middle to kill it in."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from tillit.audit.services import CHAIN_LOCK_KEY
from tillit.people import services as people
from tillit.people.models import Interaction, Person
from tillit.retention.models import ErasureReceipt
from tillit.rights import services
from tillit.rights.models import DataSubjectRequest

from ..conftest import database_url, free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def post(port: int, path: str) -> int:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        client.request("POST", path, body=b"lang=en", headers={"Content-Type": "application/x-www-form-urlencoded"})
        return client.getresponse().status
    finally:
        client.close()


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def wait_for(condition, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.skipif(not database_url().startswith("postgres"), reason="needs PostgreSQL's locks to stop mid-way")
def test_an_erasure_killed_mid_way_leaves_the_person_whole_and_the_request_to_finish(
    system_actor, smtp_server, tillit_env, settings, immediate_tasks
):
    now = timezone.now()  # the app in its own process runs on the real clock
    person = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Testperson Avbrutt", "email": "avbrutt@example.com", "phone": "41234567"},
    )
    people.record_interaction(
        actor=system_actor, now=now, person_id=person.pk, kind="call", direction="inbound", summary="Asked about prices"
    )
    services.submit_request(
        actor=system_actor, now=now, email="avbrutt@example.com", kind="erasure", language="en", ip="192.0.2.10"
    )
    link = re.search(r"https?://[^/\s]+(/rights/verify/[^\s?]+)", smtp_server.messages[0].get_content())
    assert link, smtp_server.messages[0].get_content()
    path = link.group(1)

    port = free_port()
    env = {
        **tillit_env,
        "TILLIT_SECRET_KEY": settings.SECRET_KEY,
        "TILLIT_EMAIL_HOST": "127.0.0.1",
        "TILLIT_EMAIL_PORT": str(settings.EMAIL_PORT),
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    app = subprocess.Popen(
        [gunicorn, "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "-t", "60"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    holder = psycopg.connect(database_url(), autocommit=True)
    try:
        wait_for(lambda: len(workers_of(app.pid)) == 1, "gunicorn's worker")
        holder.execute("SELECT pg_advisory_lock(%s)", [CHAIN_LOCK_KEY])
        first = threading.Thread(target=lambda: post_quietly(port, path), daemon=True)
        first.start()

        def erasure_waits_having_written() -> bool:
            row = holder.execute(
                "SELECT backend_xid IS NOT NULL FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            ).fetchone()
            return bool(row and row[0])

        wait_for(erasure_waits_having_written, "the erasure to stop at the audit chain after writing")
        (worker,) = workers_of(app.pid)
        os.kill(worker, signal.SIGKILL)
        first.join(timeout=30)
        holder.execute("SELECT pg_advisory_unlock(%s)", [CHAIN_LOCK_KEY])

        # Nothing half-erased: the person and their timeline are whole; no receipt.
        assert Person.objects.filter(pk=person.pk, email="avbrutt@example.com", phone="+4741234567").exists()
        assert Interaction.objects.filter(person_id=person.pk).exists()
        assert not ErasureReceipt.objects.exists()
        # Not lost: the request still waits for its verification.
        assert DataSubjectRequest.objects.get().status == "awaiting_verification"

        wait_for(lambda: len(workers_of(app.pid)) == 1, "gunicorn to start a new worker")
        wait_for(lambda: try_post(port, path) == 200, "the same link to complete the erasure")
        assert not Person.objects.filter(pk=person.pk).exists()
        assert not Interaction.objects.filter(person_id=person.pk).exists()
        assert ErasureReceipt.objects.count() == 1
        assert DataSubjectRequest.objects.get().status == "completed"
        assert smtp_server.messages[-1]["To"] == "avbrutt@example.com"  # the answer went out
    finally:
        holder.close()
        app.terminate()
        app.wait(timeout=30)
        connection.close()


def post_quietly(port: int, path: str) -> None:
    with contextlib.suppress(OSError, http.client.HTTPException):  # the worker dies under it
        post(port, path)


def try_post(port: int, path: str) -> int:
    try:
        return post(port, path)
    except OSError:
        return 0
