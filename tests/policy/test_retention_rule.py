"""Table tests for the retention rule (policy §9): each ground, their combinations, and the
boundaries (exactly 2 years, 29 February, time zones)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillit import policy
from tillit.policy import retention as r

UTC = dt.UTC
OSLO = ZoneInfo("Europe/Oslo")


def at(y: int, m: int, d: int, h: int = 12, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=tz)


REG = at(2020, 1, 1)


@pytest.mark.parametrize(
    ("_case", "facts", "until", "reason"),
    [
        ("only registered", r.RetentionFacts(registered_at=REG), at(2022, 1, 1), r.REGISTERED),
        (
            "last contact + 2 years",
            r.RetentionFacts(registered_at=REG, last_contact_at=at(2024, 5, 17)),
            at(2026, 5, 17),
            r.DIALOGUE,
        ),
        (
            "subscribed: no deadline",
            r.RetentionFacts(registered_at=REG, last_contact_at=at(2024, 5, 17), is_subscribed=True),
            None,
            r.SUBSCRIBED,
        ),
        (
            "unsubscribed later than contact",
            r.RetentionFacts(registered_at=REG, last_contact_at=at(2024, 5, 17), unsubscribed_at=at(2025, 3, 1)),
            at(2027, 3, 1),
            r.UNSUBSCRIBED,
        ),
        (
            "contact later than unsubscribe",
            r.RetentionFacts(registered_at=REG, last_contact_at=at(2025, 6, 1), unsubscribed_at=at(2025, 3, 1)),
            at(2027, 6, 1),
            r.DIALOGUE,
        ),
        (
            "active customer with a service: no deadline",
            r.RetentionFacts(
                registered_at=REG, is_customer=True, has_active_service=True, unsubscribed_at=at(2021, 1, 1)
            ),
            None,
            r.CUSTOMER,
        ),
        (
            "active customer beats subscription",
            r.RetentionFacts(registered_at=REG, is_customer=True, has_active_service=True, is_subscribed=True),
            None,
            r.CUSTOMER,
        ),
        (
            "customer ended: from the end date",
            r.RetentionFacts(registered_at=REG, last_contact_at=at(2023, 1, 1), customer_ended_at=at(2025, 9, 30)),
            at(2027, 9, 30),
            r.CUSTOMER_ENDED,
        ),
        (
            "customer ended long ago, recent contact",
            r.RetentionFacts(registered_at=REG, last_contact_at=at(2026, 1, 2), customer_ended_at=at(2022, 1, 1)),
            at(2028, 1, 2),
            r.DIALOGUE,
        ),
        (
            "29 February + 2 years is 28 February",
            r.RetentionFacts(registered_at=REG, last_contact_at=at(2024, 2, 29)),
            at(2026, 2, 28),
            r.DIALOGUE,
        ),
        (
            "a late-evening contact in Oslo on 29 February",
            r.RetentionFacts(registered_at=REG, last_contact_at=dt.datetime(2024, 2, 29, 23, 30, tzinfo=OSLO)),
            dt.datetime(2026, 2, 28, 23, 30, tzinfo=OSLO),
            r.DIALOGUE,
        ),
        (
            "UTC evening that is already 1 March in Oslo",
            r.RetentionFacts(registered_at=REG, last_contact_at=dt.datetime(2024, 2, 29, 23, 30, tzinfo=UTC)),
            dt.datetime(2026, 3, 1, 0, 30, tzinfo=OSLO),
            r.DIALOGUE,
        ),
    ],
)
def test_retain_until(_case, facts, until, reason):
    decision = r.retain_until(policy.current(), facts)
    assert decision.reason == reason
    assert decision.retain_until == until


def test_exactly_two_years_is_the_deadline_not_a_moment_later():
    facts = r.RetentionFacts(registered_at=REG, last_contact_at=at(2024, 11, 24, 9))
    decision = r.retain_until(policy.current(), facts)
    assert not r.is_past_deadline(decision, at(2026, 11, 24, 9) - dt.timedelta(seconds=1))
    assert r.is_past_deadline(decision, at(2026, 11, 24, 9))


def test_a_summer_time_contact_keeps_its_wall_clock_time():
    summer = dt.datetime(2025, 7, 1, 10, tzinfo=OSLO)
    assert r.add_years(summer, 2) == dt.datetime(2027, 7, 1, 10, tzinfo=OSLO)


@pytest.mark.parametrize(
    ("kind", "direction", "reached", "counts"),
    [
        ("form", "inbound", False, True),
        ("download", "inbound", False, True),
        ("email", "inbound", False, True),
        ("email", "outbound", False, False),
        ("email", "outbound", True, False),
        ("call", "inbound", False, True),
        ("call", "outbound", True, True),
        ("call", "outbound", False, False),
        ("chat", "inbound", False, True),
        ("order", "inbound", False, True),
        ("event", "inbound", False, True),
        ("visit", "inbound", False, False),
        ("note", "internal", False, False),
    ],
)
def test_which_interactions_move_the_clock(kind, direction, reached, counts):
    assert r.counts_as_contact(policy.current(), kind=kind, direction=direction, reached=reached) is counts


def test_a_bookkeeping_hold_runs_from_the_end_of_the_financial_year():
    until = r.legal_hold_until(policy.current(), "bookkeeping", at(2024, 3, 15))
    assert until == dt.datetime(2029, 12, 31, 23, 59, 59, tzinfo=OSLO)


moments = st.datetimes(
    min_value=dt.datetime(2015, 1, 1),  # noqa: DTZ001 (hypothesis adds the time zone)
    max_value=dt.datetime(2030, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(
    reg=moments,
    contact=st.none() | moments,
    unsub=st.none() | moments,
    ended=st.none() | moments,
    subscribed=st.booleans(),
    customer=st.booleans(),
)
def test_the_deadline_is_never_before_any_ground_that_still_holds(reg, contact, unsub, ended, subscribed, customer):
    facts = r.RetentionFacts(
        registered_at=reg,
        last_contact_at=contact,
        is_subscribed=subscribed,
        unsubscribed_at=unsub,
        is_customer=customer,
        customer_ended_at=ended,
        has_active_service=customer,
    )
    decision = r.retain_until(policy.current(), facts)
    if customer or subscribed:
        assert decision.retain_until is None
        return
    assert decision.retain_until is not None
    for ground in (reg, contact, unsub, ended):
        if ground is not None:
            assert decision.retain_until >= r.add_years(ground, 2)


# --- a customer relationship with no active service ends (§9; retention.customer) -------------

ORDER = at(2024, 3, 15)


@pytest.mark.parametrize(
    ("_case", "facts", "ends_at", "until", "reason"),
    [
        (
            "a service keeps the relationship open",
            r.RetentionFacts(registered_at=REG, is_customer=True, has_active_service=True, last_order_at=ORDER),
            None,
            None,
            r.CUSTOMER,
        ),
        (
            "order only: 12 months after the last order, then 2 years",
            r.RetentionFacts(registered_at=REG, is_customer=True, customer_since=at(2023, 1, 1), last_order_at=ORDER),
            at(2025, 3, 15),
            at(2027, 3, 15),
            r.CUSTOMER_ORDERS,
        ),
        (
            "no order: from the start of the relationship",
            r.RetentionFacts(registered_at=REG, is_customer=True, customer_since=at(2024, 6, 1)),
            at(2025, 6, 1),
            at(2027, 6, 1),
            r.CUSTOMER_ORDERS,
        ),
        (
            "a relationship started after the last order counts from its start",
            r.RetentionFacts(registered_at=REG, is_customer=True, customer_since=at(2024, 9, 1), last_order_at=ORDER),
            at(2025, 9, 1),
            at(2027, 9, 1),
            r.CUSTOMER_ORDERS,
        ),
        (
            "nothing known: from the registration, never without a deadline",
            r.RetentionFacts(registered_at=REG, is_customer=True),
            at(2021, 1, 1),
            at(2023, 1, 1),
            r.CUSTOMER_ORDERS,
        ),
        (
            "a later contact still wins",
            r.RetentionFacts(registered_at=REG, is_customer=True, last_order_at=ORDER, last_contact_at=at(2026, 1, 5)),
            at(2025, 3, 15),
            at(2028, 1, 5),
            r.DIALOGUE,
        ),
        (
            "subscribed: no deadline while subscribed",
            r.RetentionFacts(registered_at=REG, is_customer=True, last_order_at=ORDER, is_subscribed=True),
            at(2025, 3, 15),
            None,
            r.SUBSCRIBED,
        ),
        (
            "28 February + 12 months + 2 years",
            r.RetentionFacts(registered_at=REG, is_customer=True, last_order_at=at(2023, 2, 28)),
            at(2024, 2, 28),
            at(2026, 2, 28),
            r.CUSTOMER_ORDERS,
        ),
        (
            "29 February order: 28 February a year later",
            r.RetentionFacts(registered_at=REG, is_customer=True, last_order_at=at(2024, 2, 29)),
            at(2025, 2, 28),
            at(2027, 2, 28),
            r.CUSTOMER_ORDERS,
        ),
    ],
)
def test_a_relationship_without_a_service_ends_after_the_last_order(_case, facts, ends_at, until, reason):
    current = policy.current()
    assert current.retention.customer.months_after_last_order == 12
    assert r.customer_relationship_ends_at(current, facts) == ends_at
    decision = r.retain_until(current, facts)
    assert (decision.retain_until, decision.reason) == (until, reason)


def test_an_order_three_years_ago_is_past_the_deadline():
    now = at(2026, 12, 3)
    facts = r.RetentionFacts(registered_at=REG, is_customer=True, last_order_at=r.add_years(now, -3))
    decision = r.retain_until(policy.current(), facts)
    assert r.is_past_deadline(decision, now)
    assert not r.is_past_deadline(decision, now - dt.timedelta(seconds=1))


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (at(2024, 1, 31), 1, at(2024, 2, 29)),
        (at(2023, 1, 31), 1, at(2023, 2, 28)),
        (at(2024, 2, 29), 12, at(2025, 2, 28)),
        (at(2024, 12, 15), 1, at(2025, 1, 15)),
        (at(2024, 3, 31, tz=OSLO), -1, at(2024, 2, 29, tz=OSLO)),  # wall clock across summer time
    ],
)
def test_add_months(moment, months, expected):
    assert r.add_months(moment, months) == expected


def test_our_own_records_have_a_lifetime():
    current = policy.current()
    now = at(2026, 12, 3)
    assert r.audit_log_cutoff(current, now) == r.add_months(now, -current.retention.own_records.audit_log_months)
    assert r.erasure_receipt_cutoff(current, now) == at(2021, 12, 3)
