"""Deadlines and automatic handling of data subject requests (policy §13; GDPR art. 12(3)).

- A request is answered within ``rights.response_months`` of receipt: the same calendar day
  that many months later, or the last day of that month when it has no such day (received
  31 January, due 28 February; EU Regulation 1182/71 art. 3(2)(c)).
- The deadline may be extended by ``rights.extension_months`` more, counted from receipt,
  only with a reason and only while the first period still runs (art. 12(3): the person must
  be told of the extension and why *within one month of receipt*).
- A request is *due soon* from seven days before its deadline (D-7) and *urgent* from two
  (D-2); after the due day it is *overdue*.
- Which verified requests complete without a staff step is decided here too
  (``staff_step_reason``).

Everything is pure: the policy, the facts and "now" come in as arguments. Dates are
calendar days in the controller's time zone.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Final, Literal

from tillit.core.errors import ConflictError, ValidationError
from tillit.policy.retention import CONTROLLER_TIME_ZONE
from tillit.policy.schema import Policy

DUE_SOON_DAYS: Final = 7
URGENT_DAYS: Final = 2

DeadlineState = Literal["on_time", "due_soon", "urgent", "overdue", "closed"]

# Why a verified request waits for the privacy officer instead of completing by itself.
ACTIVE_CUSTOMER: Final = "active_customer"
NEEDS_DECISION: Final = "needs_decision"
BALANCING: Final = "balancing"
AUTOMATIC_KINDS: Final = ("access", "portability", "withdrawal", "erasure", "objection", "restriction")
# The request types behind each right of the policy: the right to object (art. 21) has two,
# the absolute objection to direct marketing (21(2)-(3)) and the objection to other processing
# based on our legitimate interests, which needs a balancing (21(1)).
REQUEST_KINDS: Final = {"objection": ("objection", "objection_processing")}


class ExtensionTooLateError(ConflictError):
    """An extension asked for after the first response period has run out (art. 12(3))."""

    code = "extension_too_late"


class AlreadyExtendedError(ConflictError):
    code = "already_extended"


def add_months(day: dt.date, months: int) -> dt.date:
    """The same calendar day ``months`` later, or the last day of that month if it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_day(moment: dt.datetime) -> dt.date:
    """The calendar day of ``moment`` in the controller's time zone."""
    return moment.astimezone(CONTROLLER_TIME_ZONE).date()


def due_on(policy: Policy, received_at: dt.datetime) -> dt.date:
    """The legal due date of a request received at ``received_at`` (§13, art. 12(3))."""
    return add_months(local_day(received_at), policy.rights.response_months)


def extended_due_on(policy: Policy, received_at: dt.datetime) -> dt.date:
    """The due date after the extension the policy allows, counted from receipt."""
    return add_months(local_day(received_at), policy.rights.response_months + policy.rights.extension_months)


def extend(
    policy: Policy, *, received_at: dt.datetime, now: dt.datetime, reason: str, already_extended: bool
) -> dt.date:
    """The new due date of an extension asked for at ``now``. Raises ``ValidationError``
    without a reason, ``AlreadyExtendedError`` for a second extension, and
    ``ExtensionTooLateError`` once the first period has ended (the due day itself still counts)."""
    if not reason.strip():
        raise ValidationError("an extension needs a reason, which we send to the person", field="reason")
    if policy.rights.extension_months < 1:
        raise ConflictError("the privacy policy allows no extension", code="no_extension")
    if already_extended:
        raise AlreadyExtendedError("this request has already been extended")
    if local_day(now) > due_on(policy, received_at):
        raise ExtensionTooLateError(
            "the first month has ended: an extension had to be sent within it (GDPR art. 12(3))"
        )
    return extended_due_on(policy, received_at)


def deadline_state(*, due: dt.date, now: dt.datetime, is_open: bool = True) -> DeadlineState:
    """Where a request stands against its deadline: overdue after the due day, urgent from
    D-2, due soon from D-7, else on time; a closed request is ``closed``."""
    if not is_open:
        return "closed"
    days_left = (due - local_day(now)).days
    if days_left < 0:
        return "overdue"
    if days_left <= URGENT_DAYS:
        return "urgent"
    if days_left <= DUE_SOON_DAYS:
        return "due_soon"
    return "on_time"


def request_kinds(policy: Policy) -> tuple[str, ...]:
    """The request types the portal and the desk accept: those of the rights the policy grants (§13)."""
    return tuple(kind for right in policy.rights.available for kind in REQUEST_KINDS.get(right, (right,)))


def balancing_purposes(policy: Policy) -> tuple[str, ...]:
    """The purposes a person may object to under art. 21(1) (§13): those the policy marks as
    objectable that rest on our legitimate interest on some channel and are not direct
    marketing (an objection to marketing is absolute, art. 21(3), and needs no balancing)."""
    return tuple(
        key
        for key, purpose in policy.purposes.items()
        if purpose.objectable and not purpose.marketing and "legitimate_interest" in purpose.bases.values()
    )


def staff_step_reason(kind: str, *, is_active_customer: bool) -> str | None:
    """Why a verified request of ``kind`` needs the privacy officer, or None when it completes
    by itself. Access, portability, withdrawal, objection to direct marketing and restriction
    always complete by themselves (§13; a restriction protects the person at once, art. 18(1):
    the privacy officer may lift it later, telling them first). Erasure does too, unless the
    person is an active customer:
    the contract and the bookkeeping records it creates are grounds to keep data (art.
    17(3)(b)), so the privacy officer decides what goes and what stays. Rectification always
    needs a decision (art. 16: the proposal is checked), and so does an objection to processing
    based on our legitimate interests (art. 21(1): we must stop unless the privacy officer
    finds compelling legitimate grounds that override the person's interests)."""
    if kind == "objection_processing":
        return BALANCING
    if kind not in AUTOMATIC_KINDS:
        return NEEDS_DECISION
    if kind == "erasure" and is_active_customer:
        return ACTIVE_CUSTOMER
    return None
