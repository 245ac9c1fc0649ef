"""Staff and their mailboxes (policy §16): "our staff review their mailboxes at least every
``email_and_phone.mailbox_review_months`` months and delete what is no longer needed".

A review is due that many months after the staff member's last review, or after they joined
if they have not reviewed yet; they are reminded ``mailbox_review_reminder_days`` days before.
Pure: the dates and "now" come in as arguments.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tillit.policy.retention import add_months
from tillit.policy.schema import Policy


@dataclass(frozen=True)
class MailboxReviewState:
    due_at: dt.datetime
    remind_from: dt.datetime
    is_overdue: bool
    is_reminder_due: bool  # within the reminder period before the due date, or overdue


def mailbox_review_due_at(policy: Policy, *, last_review_at: dt.datetime | None, joined_at: dt.datetime) -> dt.datetime:
    """When the next review is due (§16)."""
    return add_months(last_review_at or joined_at, policy.email_and_phone.mailbox_review_months)


def mailbox_review_state(
    policy: Policy, *, last_review_at: dt.datetime | None, joined_at: dt.datetime, now: dt.datetime
) -> MailboxReviewState:
    due_at = mailbox_review_due_at(policy, last_review_at=last_review_at, joined_at=joined_at)
    remind_from = due_at - dt.timedelta(days=policy.email_and_phone.mailbox_review_reminder_days)
    return MailboxReviewState(
        due_at=due_at, remind_from=remind_from, is_overdue=now >= due_at, is_reminder_due=now >= remind_from
    )
