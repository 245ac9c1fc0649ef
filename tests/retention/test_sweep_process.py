"""The sweep as a real process: killed at any moment and run again, it leaves no half-erased
person and finishes the job; a second sweep started while one runs exits with a message."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tillit.people.models import Interaction, Person
from tillit.retention.models import ErasureReceipt

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PEOPLE = 6000


def load_expired_people(n: int) -> None:
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    Person.objects.bulk_create(
        [
            Person(
                pseudonym=uuid.uuid4(),
                name=f"Expired {i}",
                email=f"expired{i}@example.com",
                created_at=past,
                updated_at=past,
                retain_until=past,
                retain_reason="dialogue",
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    Interaction.objects.bulk_create(
        [
            Interaction(person_id=pid, kind="form", direction="inbound", occurred_at=past)
            for pid in Person.objects.values_list("pk", flat=True)
        ],
        batch_size=2000,
    )


def sweep_process(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tillit.cli.main", "sweep", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_sweep_leaves_whole_people_and_the_next_run_finishes(tillit_env):
    load_expired_people(PEOPLE)
    process = sweep_process(tillit_env, "--batch-size", "10")
    deadline = time.monotonic() + 120
    while ErasureReceipt.objects.count() < 50:
        if process.poll() is not None:
            raise AssertionError(f"the sweep ended before it could be killed: {process.communicate()[1][-2000:]}")
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    erased = ErasureReceipt.objects.count()
    assert 0 < erased < PEOPLE, "killed in the middle"
    # No half-erased person: everyone left still has their interaction, nobody erased has any.
    assert Person.objects.count() == PEOPLE - erased
    assert Interaction.objects.count() == PEOPLE - erased
    assert not Interaction.objects.exclude(person_id__in=Person.objects.values("pk")).exists()

    again = subprocess.run(
        [sys.executable, "-m", "tillit.cli.main", "sweep"],
        env=tillit_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "Erased" in again.stdout
    assert Person.objects.count() == 0
    assert Interaction.objects.count() == 0
    assert ErasureReceipt.objects.count() == PEOPLE
    assert ErasureReceipt.objects.values("pseudonym").distinct().count() == PEOPLE


def test_a_second_sweep_exits_with_a_message(tillit_env):
    load_expired_people(3000)
    first = sweep_process(tillit_env, "--batch-size", "5")
    deadline = time.monotonic() + 60
    while not ErasureReceipt.objects.exists():
        assert first.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second = subprocess.run(
        [sys.executable, "-m", "tillit.cli.main", "sweep"],
        env=tillit_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert second.returncode == 1
    assert "another sweep is running" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
