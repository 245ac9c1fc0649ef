"""The daily sweep is enqueued once a day at its hour and erases everyone past the deadline."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tillit.cli.management.commands.scheduler import jobs
from tillit.core.models import ScheduledRun
from tillit.core.scheduling import enqueue_due
from tillit.people.models import Person

pytestmark = pytest.mark.django_db
DAILY = [
    "retention.sweep",
    "sharing.notify",
    "sharing.verify",
    "rights.expire",
    "capture.raw_visits",
    "consent.art14_notices",
    "consent.renewals",
    "marketing.forget_requests",
    "retention.own_records",
    "accounts.mailbox_reminders",
    "people.lapsed_customers",
]


@pytest.fixture(autouse=True)
def _run_tasks_immediately(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.TILLIT_SWEEP_HOUR = 2


def test_the_sweep_runs_once_a_day_from_its_hour():
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    Person.objects.create(
        pseudonym=uuid.uuid4(),
        name="Expired",
        created_at=past,
        updated_at=past,
        retain_until=past,
        retain_reason="dialogue",
    )
    before = dt.datetime(2026, 11, 24, 0, 59, tzinfo=dt.UTC)  # 01:59 in Oslo
    assert enqueue_due(jobs(), now=before) == []
    assert Person.objects.count() == 1

    at_two = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)  # 02:00 in Oslo
    assert enqueue_due(jobs(), now=at_two) == DAILY
    assert Person.objects.count() == 0
    assert enqueue_due(jobs(), now=at_two + dt.timedelta(hours=3)) == [], "once a day, whoever asks"
    assert ScheduledRun.objects.filter(job="retention.sweep").count() == 1
    assert enqueue_due(jobs(), now=at_two + dt.timedelta(days=1)) == DAILY
