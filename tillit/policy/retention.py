"""How long a person may be kept, and why (policy §9; GDPR art. 5(1)(e), 13(2)(a)).

A person is kept until the *latest* of the grounds that still hold:

- **customer**: while a customer relationship with an active service lasts there is no
  deadline; when it ends, the end date starts the same clock as a contact (§9, last
  paragraph). A relationship with no active service (a customer who only orders) ends
  ``retention.customer.months_after_last_order`` months after the last order (or its start,
  if it has none), so it always has a deadline (``customer_relationship_ends_at``);
- **subscribed**: while subscribed to a newsletter there is no deadline; after unsubscribing,
  ``unsubscribed_at`` + 2 years (§9, third paragraph);
- **dialogue**: the last contact the person took part in + 2 years (§9, second paragraph).
  Which contacts count is the policy's list: inbound forms, downloads, email replies, calls,
  chats, orders and event attendance, and outbound calls the person answered. Our own
  outbound emails and campaign sends never move the clock;
- **registered**: a person we hold without any such contact yet (e.g. entered by staff) is
  kept 2 years from registration, the same period, so nobody is kept without a deadline.

"2 years" ends on the same calendar date in the controller's time zone; 29 February + 2 years
is 28 February (EU Regulation 1182/71 art. 3(2)(c), by analogy).

A legal hold (bookkeeping) keeps only the records it names, never the person; see
``legal_hold_until``. Everything here is pure: the facts and "now" come in as arguments.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tillit.policy.schema import Policy

CONTROLLER_TIME_ZONE = ZoneInfo("Europe/Oslo")

# The reasons, in words for staff and data subjects (translated where they are shown).
CUSTOMER = "customer"
SUBSCRIBED = "subscribed"
DIALOGUE = "dialogue"
UNSUBSCRIBED = "unsubscribed"
CUSTOMER_ENDED = "customer_ended"
CUSTOMER_ORDERS = "customer_orders"
REGISTERED = "registered"
REASONS = (CUSTOMER, SUBSCRIBED, DIALOGUE, UNSUBSCRIBED, CUSTOMER_ENDED, CUSTOMER_ORDERS, REGISTERED)


@dataclass(frozen=True)
class RetentionFacts:
    """What the rule needs to know about one person."""

    registered_at: dt.datetime
    last_contact_at: dt.datetime | None = None
    is_subscribed: bool = False
    unsubscribed_at: dt.datetime | None = None
    is_customer: bool = False
    customer_ended_at: dt.datetime | None = None
    # The open relationship: when it started, whether a service is active, the last order.
    customer_since: dt.datetime | None = None
    has_active_service: bool = False
    last_order_at: dt.datetime | None = None


@dataclass(frozen=True)
class RetentionDecision:
    """``retain_until`` is None while a ground without a deadline holds."""

    retain_until: dt.datetime | None
    reason: str


def add_years(moment: dt.datetime, years: int, tz: dt.tzinfo = CONTROLLER_TIME_ZONE) -> dt.datetime:
    """The same wall-clock moment ``years`` later in ``tz``; 29 February becomes 28 February."""
    local = moment.astimezone(tz)
    try:
        shifted = local.replace(year=local.year + years)
    except ValueError:  # 29 February in a year that has none
        shifted = local.replace(year=local.year + years, day=28)
    return shifted.astimezone(dt.UTC)


def counts_as_contact(policy: Policy, *, kind: str, direction: str, reached: bool) -> bool:
    """Whether an interaction is contact the person took part in (§9 "active dialogue")."""
    rule = policy.retention.dialogue
    if direction == "inbound":
        return kind in rule.inbound_kinds
    if direction == "outbound":
        return reached and kind in rule.answered_outbound_kinds
    return False


def customer_relationship_ends_at(policy: Policy, facts: RetentionFacts) -> dt.datetime | None:
    """When an open customer relationship with no active service ends (§9): ``months_after_last_order``
    months after the last order, or after the relationship started if that is later (or if
    there is no order; the registration if neither is known). None when the person is not a
    customer, or has an active service (then it lasts until the last service is cancelled)."""
    if not facts.is_customer or facts.has_active_service:
        return None
    anchors = [at for at in (facts.last_order_at, facts.customer_since) if at is not None]
    anchor = max(anchors) if anchors else facts.registered_at
    return add_months(anchor, policy.retention.customer.months_after_last_order)


def retain_until(policy: Policy, facts: RetentionFacts) -> RetentionDecision:
    """The deadline and the ground that sets it (the latest of those that hold)."""
    if facts.is_customer and facts.has_active_service and policy.retention.customer.while_active:
        return RetentionDecision(None, CUSTOMER)
    if facts.is_subscribed:
        return RetentionDecision(None, SUBSCRIBED)
    years = policy.retention.dialogue.years
    candidates: list[tuple[dt.datetime, str]] = [(add_years(facts.registered_at, years), REGISTERED)]
    if facts.last_contact_at is not None:
        candidates.append((add_years(facts.last_contact_at, years), DIALOGUE))
    if facts.unsubscribed_at is not None:
        candidates.append(
            (add_years(facts.unsubscribed_at, policy.retention.newsletter.years_after_unsubscribe), UNSUBSCRIBED)
        )
    if facts.customer_ended_at is not None:
        candidates.append((add_years(facts.customer_ended_at, years), CUSTOMER_ENDED))
    lapses_at = customer_relationship_ends_at(policy, facts)
    if lapses_at is not None:
        candidates.append((add_years(lapses_at, years), CUSTOMER_ORDERS))
    # The latest deadline wins; on a tie, the ground listed first in REASONS names it.
    until, reason = max(candidates, key=lambda c: (c[0], -REASONS.index(c[1])))
    return RetentionDecision(until, reason)


def is_past_deadline(decision: RetentionDecision, now: dt.datetime) -> bool:
    return decision.retain_until is not None and decision.retain_until <= now


def legal_hold_until(policy: Policy, hold: str, record_at: dt.datetime) -> dt.datetime:
    """Until when a held record (e.g. an order line) must be kept: the end of its financial
    year (31 December) plus the hold's years (bookkeeping act § 13)."""
    rule = policy.retention.legal_holds[hold]
    local = record_at.astimezone(CONTROLLER_TIME_ZONE)
    year_end = dt.datetime(local.year, 12, 31, 23, 59, 59, tzinfo=CONTROLLER_TIME_ZONE)
    return add_years(year_end, rule.years)


def subtract_months(moment: dt.datetime, months: int, tz: dt.tzinfo = CONTROLLER_TIME_ZONE) -> dt.datetime:
    """The same wall-clock moment ``months`` earlier in ``tz``; a day the month lacks becomes
    its last day (31 March - 1 month is 28 or 29 February)."""
    return add_months(moment, -months, tz)


def add_months(moment: dt.datetime, months: int, tz: dt.tzinfo = CONTROLLER_TIME_ZONE) -> dt.datetime:
    """The same wall-clock moment ``months`` later in ``tz`` (earlier when negative); a day the
    month lacks becomes its last day (31 January + 1 month is 28 or 29 February)."""
    local = moment.astimezone(tz)
    index = local.year * 12 + (local.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    next_first = dt.date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_first - dt.timedelta(days=1)).day
    shifted = local.replace(year=year, month=month, day=min(local.day, last_day))
    return shifted.astimezone(dt.UTC)


def raw_visits_cutoff(policy: Policy, now: dt.datetime) -> dt.datetime:
    """Raw site visits (URL, shortened IP address, browser, language; §4 technical
    information) are kept ``retention.raw_visits.months`` months: a visit recorded before
    the moment returned is past its deadline. Only the daily counts outlive it (no personal
    data)."""
    return subtract_months(now, policy.retention.raw_visit_months)


def audit_log_cutoff(policy: Policy, now: dt.datetime) -> dt.datetime:
    """Audit entries are kept ``retention.own_records.audit_log_months`` months (§9; the
    reasoning is in the policy file): an entry made before the moment returned is past its
    deadline and may be pruned, behind a signed checkpoint at the cut."""
    return subtract_months(now, policy.retention.own_records.audit_log_months)


def erasure_receipt_cutoff(policy: Policy, now: dt.datetime) -> dt.datetime:
    """Erasure receipts are kept ``retention.own_records.erasure_receipt_months`` months: a
    receipt of an erasure before the moment returned is past its deadline."""
    return subtract_months(now, policy.retention.own_records.erasure_receipt_months)
