"""The 72-hour clock of a personal data breach (GDPR art. 33(1)): the controller notifies the
supervisory authority without undue delay and, where feasible, not later than 72 hours after
having become aware of the breach; a later notification carries the reasons for the delay.

Pure: no database, no clock. The hours are the law's, not the policy's, so they live here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

NOTIFY_WITHIN: dt.timedelta = dt.timedelta(hours=72)

ClockState = Literal["running", "overdue", "notified", "notified_late", "not_required"]


@dataclass(frozen=True)
class Clock:
    """Where an incident stands against art. 33(1) at ``now``."""

    deadline_at: dt.datetime
    state: ClockState
    # Time left before the deadline (zero once it has passed or the authority was notified).
    left: dt.timedelta
    # How far past the deadline: now (overdue) or at the notification (notified_late).
    late_by: dt.timedelta

    @property
    def is_overdue(self) -> bool:
        return self.state == "overdue"

    @property
    def is_late(self) -> bool:
        """Past the deadline, notified or not: the late notification must carry its reasons."""
        return self.state in ("overdue", "notified_late")


def notification_deadline(aware_at: dt.datetime) -> dt.datetime:
    """72 hours after we became aware (art. 33(1)); real hours, so a summer-time change in
    between does not move it (Python adds a timedelta to a zoned time on the wall clock, so
    the sum is taken in UTC)."""
    return aware_at.astimezone(dt.UTC) + NOTIFY_WITHIN


def clock(
    *, aware_at: dt.datetime, notified_at: dt.datetime | None, now: dt.datetime, not_required: bool = False
) -> Clock:
    """The clock at ``now``: running (time left), overdue (not notified and past the deadline,
    shown as such), notified in time, notified late (by how much), or stopped because the
    controller documented that the breach is unlikely to result in a risk to people
    (``not_required``; art. 33(1) then asks for no notification). The deadline itself is
    still in time: notified exactly 72 hours after awareness is not late."""
    deadline = notification_deadline(aware_at)
    zero = dt.timedelta(0)
    if not_required and notified_at is None:
        return Clock(deadline, "not_required", zero, zero)
    if notified_at is not None:
        if notified_at <= deadline:
            return Clock(deadline, "notified", zero, zero)
        return Clock(deadline, "notified_late", zero, notified_at - deadline)
    if now <= deadline:
        return Clock(deadline, "running", deadline - now, zero)
    return Clock(deadline, "overdue", zero, now - deadline)


def is_notification_late(*, aware_at: dt.datetime, notified_at: dt.datetime) -> bool:
    """Whether a notification at ``notified_at`` needs the reasons for the delay (art. 33(1))."""
    return notified_at > notification_deadline(aware_at)
