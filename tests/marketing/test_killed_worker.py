"""Sending as real processes: two ``tillit db_worker`` processes send a campaign to a real SMTP
server; both are killed (SIGKILL) in the middle; the campaign is resumed; every recipient gets
exactly one message, counted at the server by Message-ID."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from tillit.consent.models import ConsentEvent, NoticeVersion, Subscription
from tillit.marketing import services
from tillit.marketing.models import Campaign, SendRecord
from tillit.people.models import Person

from .conftest import campaign_values

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RECIPIENTS = 400


def load_subscribers(n: int, now) -> None:  # type: ignore[no-untyped-def]
    notice = NoticeVersion.objects.order_by("-published_at").first()
    Person.objects.bulk_create(
        [
            Person(
                pseudonym=uuid.uuid4(),
                name=f"Reader {i}",
                email=f"reader{i}@example.com",
                language="en",
                notice_version=notice,
                created_at=now,
                updated_at=now,
            )
            for i in range(n)
        ]
    )
    ids = list(Person.objects.values_list("pk", flat=True))
    ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(
                person_id=pk,
                purpose="newsletter",
                channel="email",
                action="given",
                basis="consent",
                occurred_at=now,
                source_kind="double_opt_in",
                wording="Yes",
                language="en",
                notice_version=notice,
            )
            for pk in ids
        ]
    )
    Subscription.objects.bulk_create(
        [Subscription(person_id=pk, newsletter="monthly", subscribed_at=now) for pk in ids]
    )


def worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tillit.cli.main",
            "db_worker",
            "--interval",
            "0.1",
            "--no-startup-delay",
            "--no-reload",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(condition, what: str, workers, timeout: float = 40) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            for process in workers:
                if process.poll() is None:
                    process.kill()
            errors = b"".join(process.stderr.read()[-3000:] for process in workers if process.stderr)
            raise AssertionError(f"timed out waiting for {what}: {errors.decode(errors='replace')}")
        time.sleep(0.02)


def test_a_worker_killed_mid_send_and_resumed_delivers_every_message_exactly_once(
    system_actor, now, newsletter, smtp_server, tillit_env
):
    load_subscribers(RECIPIENTS, now)
    env = {
        **tillit_env,
        "TILLIT_EMAIL_HOST": "127.0.0.1",
        "TILLIT_EMAIL_PORT": str(settings.EMAIL_PORT),
        "TILLIT_PUBLIC_URL": "https://tillit.example.com",
        "TILLIT_DEBUG": "true",
    }
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    assert services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk) == RECIPIENTS
    workers = [worker(env), worker(env)]
    try:
        wait_for(lambda: len(smtp_server.messages) >= RECIPIENTS // 4, "a quarter of the messages", workers)
        for process in workers:  # both, in the middle of their batches
            process.send_signal(signal.SIGKILL)
        for process in workers:
            process.wait(timeout=30)
        killed_at = len(smtp_server.messages)
        assert killed_at < RECIPIENTS, "killed in the middle"
        assert Campaign.objects.get(pk=campaign.pk).status == "sending"
        result = subprocess.run(
            [sys.executable, "-m", "tillit.cli.main", "campaign", "resume", str(campaign.pk)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        left = SendRecord.objects.filter(campaign=campaign, status="pending").count()
        assert f"resumed: {left} messages left to send" in result.stdout
        workers.append(worker(env))
        wait_for(lambda: Campaign.objects.get(pk=campaign.pk).status == "sent", "the campaign to finish", workers)
    finally:
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    counts = collections.Counter(str(m["Message-ID"]) for m in smtp_server.messages)
    expected = set(SendRecord.objects.filter(campaign=campaign).values_list("message_id", flat=True))
    assert len(expected) == RECIPIENTS
    assert set(counts) == expected, "every recipient got a message"
    assert max(counts.values()) == 1, "nobody got two"
    assert SendRecord.objects.filter(campaign=campaign, status="sent").count() == RECIPIENTS
