"""Consent has a lifetime (policy §5, ``[consent_lifetime]``; issue 21 part 4): a table of
boundaries for the pure rule. A consent lasts the purpose's months from the later of its giving
(or renewal) and the person's last engagement; exactly at the end it no longer counts."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tillit import policy
from tillit.policy import consent as rule

OSLO = ZoneInfo("Europe/Oslo")
GIVEN = dt.datetime(2026, 1, 15, 10, 0, tzinfo=OSLO)
SECOND = dt.timedelta(seconds=1)


def facts(given_at: dt.datetime = GIVEN, *, purpose: str = "direct_marketing", channel: str = "email", **kw):  # type: ignore[no-untyped-def]
    base = {
        "email": "kari@example.com",
        "consents": {(purpose, channel): "given"},
        "consent_given_at": {(purpose, channel): given_at},
        "informed_purposes": frozenset(policy.current().purposes),
    }
    return rule.ContactFacts(**{**base, **kw})


def oslo(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=OSLO)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("case", "given_at", "engaged_at", "purpose", "channel", "at", "lapsed"),
    [
        ("a second before 24 months", GIVEN, None, "direct_marketing", "email", oslo(2028, 1, 15, 10) - SECOND, False),
        ("exactly 24 months", GIVEN, None, "direct_marketing", "email", oslo(2028, 1, 15, 10), True),
        ("newsletter, exactly 24 months", GIVEN, None, "newsletter", "email", oslo(2028, 1, 15, 10), True),
        (
            "engaged 3 months in",
            GIVEN,
            oslo(2026, 4, 15, 10),
            "direct_marketing",
            "email",
            oslo(2028, 1, 15, 10),
            False,
        ),
        (
            "engaged 3 months in, 24 months after it",
            GIVEN,
            oslo(2026, 4, 15, 10),
            "direct_marketing",
            "email",
            oslo(2028, 4, 15, 10),
            True,
        ),
        (
            "an engagement before the giving",
            GIVEN,
            oslo(2025, 1, 1),
            "direct_marketing",
            "email",
            oslo(2028, 1, 15, 10),
            True,
        ),
        (
            "29 February lasts through 28 February",
            oslo(2024, 2, 29, 12),
            None,
            "newsletter",
            "email",
            oslo(2026, 2, 28, 23, 59, 59),
            False,
        ),
        ("29 February, 1 March", oslo(2024, 2, 29, 12), None, "newsletter", "email", oslo(2026, 3, 1, 0, 0), True),
        (
            "web consent, a second before 6 months",
            GIVEN,
            None,
            "statistics",
            "web",
            oslo(2026, 7, 15, 10) - SECOND,
            False,
        ),
        ("web consent, exactly 6 months", GIVEN, None, "statistics", "web", oslo(2026, 7, 15, 10), True),
        ("summer time changes nothing", oslo(2026, 3, 28, 12), None, "statistics", "web", oslo(2026, 9, 28, 12), True),
    ],
)
def test_a_consent_lapses_exactly_at_the_end_of_its_lifetime(case, given_at, engaged_at, purpose, channel, at, lapsed):  # type: ignore[no-untyped-def]
    f = facts(given_at, purpose=purpose, channel=channel, engaged_at=engaged_at)
    assert rule.consent_lapsed(policy.current(), f, purpose, channel, at) is lapsed, case


def test_a_lapsed_consent_no_longer_counts_but_other_grounds_still_do():
    current = policy.current()
    at = oslo(2028, 1, 15, 10)
    assert (
        rule.may_contact(current, facts(), purpose="direct_marketing", channel="email", now=at - SECOND).reason
        == "consent"
    )
    lapsed = rule.may_contact(current, facts(), purpose="direct_marketing", channel="email", now=at)
    assert (lapsed.allowed, lapsed.reason) == (False, "consent_expired")
    role = rule.may_contact(
        current, facts(email="post@firma.example"), purpose="direct_marketing", channel="email", now=at
    )
    assert (role.allowed, role.reason) == (True, "role_address")
    customer = facts(
        is_customer=True,
        purchases=(rule.Purchase(order="10042", product="cloud", at=GIVEN, opt_out_offered=True),),
    )
    sale = rule.may_contact(current, customer, purpose="direct_marketing", channel="email", products=["backup"], now=at)
    assert (sale.allowed, sale.recorded) == (True, "existing_customer:order=10042")
    unknown_date = rule.ContactFacts(
        consents={("newsletter", "email"): "given"}, informed_purposes=frozenset({"newsletter"})
    )
    assert (
        rule.may_contact(current, unknown_date, purpose="newsletter", channel="email", now=at).reason
        == "consent_expired"
    )


@pytest.mark.parametrize(
    ("kind", "direction", "reached", "counts"),
    [
        ("form", "inbound", False, True),
        ("email", "inbound", False, True),
        ("order", "inbound", False, True),
        ("visit", "inbound", False, False),
        ("note", "internal", False, False),
        ("email", "outbound", True, False),
        ("call", "outbound", False, False),
        ("call", "outbound", True, True),
    ],
)
def test_engagement_is_the_persons_own_act(kind: str, direction: str, reached: bool, counts: bool):
    assert rule.is_engagement(policy.current(), kind=kind, direction=direction, reached=reached) is counts


def test_the_renewal_email_asks_only_in_the_last_30_days_while_the_consent_still_counts():
    current = policy.current()
    nl = facts(purpose="newsletter")
    end = oslo(2028, 1, 15, 10)
    assert not rule.renewal_due(current, nl, "newsletter", "email", end - dt.timedelta(days=30) - SECOND)
    assert rule.renewal_due(current, nl, "newsletter", "email", end - dt.timedelta(days=30))
    assert rule.renewal_due(current, nl, "newsletter", "email", end - SECOND)
    assert not rule.renewal_due(current, nl, "newsletter", "email", end), "lapsed: asking would be marketing"
    withdrawn = facts(purpose="newsletter", consents={("newsletter", "email"): "withdrawn"})
    assert not rule.renewal_due(current, withdrawn, "newsletter", "email", end - SECOND)
