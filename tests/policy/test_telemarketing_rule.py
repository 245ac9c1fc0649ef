"""The telemarketing rules as pure functions (markedsføringsloven §§12-14; policy
``[telemarketing]``): the calling hours in Norwegian time (boundaries, summer time, Saturdays,
Sundays, public holidays and Easter), when calls may start, and how old the register extract
may be. Times are written in Oslo time unless they say UTC."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

import pytest

from tillit import policy
from tillit.policy import consent, telemarketing
from tillit.policy.consent import ContactFacts, Purchase
from tillit.policy.loader import PolicyError, parse_policy

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")


def rules() -> telemarketing.Telemarketing:
    current = policy.current().telemarketing
    assert current is not None
    return current


def oslo(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=OSLO)


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        ("2026-11-24 08:59:59", False),  # a Tuesday, one second before 09:00
        ("2026-11-24 09:00:00", True),
        ("2026-11-24 20:59:59", True),
        ("2026-11-24 21:00:00", False),  # a call must start before 21:00
        ("2026-11-27 12:00:00", True),  # Friday
        ("2026-11-28 12:00:00", False),  # Saturday: not at all since 1 July 2017
        ("2026-11-29 12:00:00", False),  # Sunday
        ("2026-12-25 12:00:00", False),  # Christmas Day (a Friday)
        ("2026-12-24 12:00:00", True),  # Christmas Eve is a working day
        ("2026-05-01 12:00:00", False),  # 1 May (a Friday), treated as a holiday
        ("2026-04-02 12:00:00", False),  # Maundy Thursday (Easter Sunday 2026 is 5 April)
        ("2026-04-03 12:00:00", False),  # Good Friday
        ("2026-04-06 12:00:00", False),  # Easter Monday
        ("2026-04-07 09:00:00", True),
        ("2026-05-14 12:00:00", False),  # Ascension Day
        ("2026-05-25 12:00:00", False),  # Whit Monday
        ("2027-05-17 12:00:00", False),  # Constitution Day (a Monday)
        ("2027-03-25 12:00:00", False),  # Maundy Thursday 2027 (Easter Sunday 28 March)
    ],
)
def test_calling_hours(at, allowed):
    assert telemarketing.within_calling_hours(rules(), oslo(at)) is allowed


def test_calling_hours_are_norwegian_time_in_summer_and_winter():
    # 07:30 UTC is 08:30 in Oslo in winter (CET) and 09:30 in summer (CEST).
    winter = dt.datetime(2026, 3, 27, 7, 30, tzinfo=dt.UTC)  # Friday before the change
    summer = dt.datetime(2026, 3, 30, 7, 30, tzinfo=dt.UTC)  # Monday after it
    assert not telemarketing.within_calling_hours(rules(), winter)
    assert telemarketing.within_calling_hours(rules(), summer)
    # 19:30 UTC: 20:30 in Oslo in winter (allowed), 21:30 in summer (not).
    assert telemarketing.within_calling_hours(rules(), dt.datetime(2026, 10, 26, 19, 30, tzinfo=dt.UTC))
    assert not telemarketing.within_calling_hours(rules(), dt.datetime(2026, 10, 23, 19, 30, tzinfo=dt.UTC))


@pytest.mark.parametrize(
    ("at", "start"),
    [
        ("2026-11-24 07:00:00", "2026-11-24 09:00:00"),  # early: later the same day
        ("2026-11-24 10:15:00", "2026-11-24 10:15:00"),  # inside: now
        ("2026-11-24 21:00:00", "2026-11-25 09:00:00"),  # evening: the next morning
        ("2026-11-27 21:30:00", "2026-11-30 09:00:00"),  # Friday evening: Monday
        ("2026-11-28 10:00:00", "2026-11-30 09:00:00"),  # Saturday: Monday
        ("2026-04-01 21:30:00", "2026-04-07 09:00:00"),  # before Easter: the Tuesday after
        ("2026-12-24 22:00:00", "2026-12-28 09:00:00"),  # Christmas: the Monday after
        ("2026-03-28 12:00:00", "2026-03-30 09:00:00"),  # over the change to summer time
    ],
)
def test_calls_may_start(at, start):
    result = telemarketing.calls_may_start(rules(), oslo(at))
    assert result is not None
    assert result.astimezone(OSLO).replace(tzinfo=None) == dt.datetime.fromisoformat(start)


def test_calls_may_start_over_summer_time_is_nine_oclock_local():
    start = telemarketing.calls_may_start(rules(), oslo("2026-03-28 12:00:00"))
    assert start == dt.datetime(2026, 3, 30, 7, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("extracted_on", "at", "current"),
    [
        ("2026-11-01", "2026-12-01 20:00:00", True),  # exactly one month later
        ("2026-11-01", "2026-12-02 09:00:00", False),
        ("2026-01-31", "2026-02-28 12:00:00", True),  # the month's last day
        ("2026-01-31", "2026-03-01 12:00:00", False),
        ("2028-01-31", "2028-02-29 12:00:00", True),  # leap year
        ("2026-12-15", "2027-01-15 12:00:00", True),  # over the new year
        ("2026-12-15", "2027-01-16 12:00:00", False),
    ],
)
def test_the_register_extract_may_be_at_most_a_month_old(extracted_on, at, current):
    day = dt.date.fromisoformat(extracted_on)
    assert telemarketing.register_is_current(rules(), day, oslo(at)) is current


def test_the_register_day_is_counted_in_norwegian_time():
    # 23:30 UTC on 1 December is already 2 December in Oslo: one day too late.
    late = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)
    assert not telemarketing.register_is_current(rules(), dt.date(2026, 11, 1), late)


def test_call_check_names_the_reason_and_when_calls_may_start():
    r = rules()
    evening = oslo("2026-11-24 21:30:00")
    assert telemarketing.call_check(r, at=evening, extracted_on=None).reason == "register_missing"
    assert telemarketing.call_check(r, at=evening, extracted_on=dt.date(2026, 9, 1)).reason == "register_stale"
    unchecked = telemarketing.call_check(r, at=evening, extracted_on=dt.date(2026, 11, 20), number_checked=False)
    assert unchecked.reason == "register_unchecked"
    late = telemarketing.call_check(r, at=evening, extracted_on=dt.date(2026, 11, 20))
    assert (late.allowed, late.reason, late.within_hours) == (False, "outside_hours", False)
    assert late.may_start_at == oslo("2026-11-25 09:00:00")
    ok = telemarketing.call_check(r, at=oslo("2026-11-25 09:00:00"), extracted_on=dt.date(2026, 11, 20))
    assert (ok.allowed, ok.reason, ok.within_hours) == (True, "ok", True)


def test_easter_sunday():
    assert [telemarketing.easter_sunday(y) for y in (2024, 2025, 2026, 2027, 2038)] == [
        dt.date(2024, 3, 31),
        dt.date(2025, 4, 20),
        dt.date(2026, 4, 5),
        dt.date(2027, 3, 28),
        dt.date(2038, 4, 25),
    ]


# --- the Reservasjonsregisteret in the eligibility rule (mfl. §13) -------------------------


def facts(**values) -> ContactFacts:
    informed = frozenset(policy.current().purposes)
    return ContactFacts(email="kari@example.com", informed_purposes=informed, **values)


def test_a_reserved_number_is_not_called_for_marketing():
    p = policy.current()
    reserved = facts(phone_reserved=True)
    decision = consent.may_contact(p, reserved, purpose="direct_marketing", channel="phone")
    assert (decision.allowed, decision.reason) == (False, "reserved")
    assert consent.may_contact(p, facts(), purpose="direct_marketing", channel="phone").allowed
    # Email is not telemarketing; a sales dialogue is not marketing.
    assert consent.may_contact(p, reserved, purpose="direct_marketing", channel="email").reason != "reserved"


def test_unless_they_asked_for_calls_or_are_an_existing_customer():
    p = policy.current()
    asked = facts(phone_reserved=True, consents={("direct_marketing", "phone"): "given"})
    assert consent.may_contact(p, asked, purpose="direct_marketing", channel="phone").allowed
    customer = facts(
        phone_reserved=True,
        is_customer=True,
        purchases=(
            Purchase(order="O-1", product="cloud", at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), opt_out_offered=True),
        ),
    )
    assert consent.may_contact(p, customer, purpose="direct_marketing", channel="phone").allowed
    # Under §13(3) only about similar products: a call that markets payroll does not reach them.
    similar = consent.may_contact(p, customer, purpose="direct_marketing", channel="phone", products=["backup"])
    unrelated = consent.may_contact(p, customer, purpose="direct_marketing", channel="phone", products=["payroll"])
    assert similar.allowed
    assert not unrelated.allowed
    ended = dataclasses.replace(customer, is_customer=False)
    assert consent.may_contact(p, ended, purpose="direct_marketing", channel="phone").reason == "reserved"


def test_the_policy_cites_the_law_and_a_broken_window_stops_loading():
    text = policy.current().source_text
    assert "mfl. §14" in text
    assert "Prop. 43 L (2016-2017)" in text
    with pytest.raises(PolicyError, match=r"telemarketing\.ends: must be later than starts"):
        parse_policy(text.replace('ends = "21:00"', 'ends = "08:00"'))
    with pytest.raises(PolicyError, match=r"telemarketing\.days: unknown day 'sonday'"):
        parse_policy(text.replace('"friday"]', '"sonday"]'))
