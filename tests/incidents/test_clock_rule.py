"""The 72-hour clock of art. 33(1), as a pure rule: table tests at the boundaries."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from tillit.policy import breach

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")
AWARE = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("now", "notified_at", "state", "left", "late_by"),
    [
        (AWARE, None, "running", 72 * H, dt.timedelta(0)),
        (AWARE + 71 * H, None, "running", H, dt.timedelta(0)),
        (AWARE + 72 * H, None, "running", dt.timedelta(0), dt.timedelta(0)),  # the deadline itself is in time
        (AWARE + 72 * H + dt.timedelta(seconds=1), None, "overdue", dt.timedelta(0), dt.timedelta(seconds=1)),
        (AWARE + 100 * H, None, "overdue", dt.timedelta(0), 28 * H),
        (AWARE + 100 * H, AWARE + 72 * H, "notified", dt.timedelta(0), dt.timedelta(0)),
        (AWARE + 100 * H, AWARE + 80 * H, "notified_late", dt.timedelta(0), 8 * H),
    ],
)
def test_the_clock(now, notified_at, state, left, late_by):
    clock = breach.clock(aware_at=AWARE, notified_at=notified_at, now=now)
    assert clock.deadline_at == AWARE + 72 * H
    assert (clock.state, clock.left, clock.late_by) == (state, left, late_by)
    assert clock.is_overdue == (state == "overdue")
    assert clock.is_late == (state in ("overdue", "notified_late"))


def test_the_deadline_is_72_real_hours_across_the_end_of_summer_time():
    # Aware on Friday 23 Oct 2026 at 10:00 in Oslo (summer time); clocks go back on Sunday 25 Oct.
    aware = dt.datetime(2026, 10, 23, 10, 0, tzinfo=OSLO)
    deadline = breach.notification_deadline(aware).astimezone(OSLO)
    assert deadline == dt.datetime(2026, 10, 26, 9, 0, tzinfo=OSLO)  # 09:00 on the wall clock, 72 hours on


def test_a_documented_no_risk_decision_stops_the_clock_unless_the_authority_was_notified_after_all():
    stopped = breach.clock(aware_at=AWARE, notified_at=None, now=AWARE + 100 * H, not_required=True)
    assert (stopped.state, stopped.is_late) == ("not_required", False)
    notified = breach.clock(aware_at=AWARE, notified_at=AWARE + 80 * H, now=AWARE + 100 * H, not_required=True)
    assert notified.state == "notified_late"


def test_a_notification_is_late_only_after_the_72_hours():
    assert not breach.is_notification_late(aware_at=AWARE, notified_at=AWARE + 72 * H)
    assert breach.is_notification_late(aware_at=AWARE, notified_at=AWARE + 72 * H + dt.timedelta(minutes=1))
