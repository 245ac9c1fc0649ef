"""GDPR art. 14 as policy (§4, §6), and what a policy version is (§14): table tests of the pure
rules, and the loader's checks of how each indirect source meets art. 14."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings

from tillit import policy
from tillit.policy import indirect, versions
from tillit.policy.loader import PolicyError, parse_policy

TEXT = Path(settings.TILLIT_POLICY_PATH).read_text(encoding="utf-8")
UTC = dt.UTC


def broken(old: str, new: str) -> str:
    assert old in TEXT
    return TEXT.replace(old, new, 1)


def test_how_each_source_meets_article_14() -> None:
    current = policy.current()
    assert indirect.indirect_sources(current) == {
        "public_register": "exempt",
        "partner_event": "notify",
        "business_card": "notify",
    }
    assert indirect.handling(current, "form") is None  # direct: art. 13, not 14
    assert indirect.handling(current, "demo") is None  # not published: fictional people
    assert current.sources["public_register"].exemption.article == "14(5)(b)"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("obtained", "due"),
    [
        # 11:00 in Oslo, summer time, to 11:00 in Oslo, winter time.
        (dt.datetime(2026, 10, 1, 9, tzinfo=UTC), dt.datetime(2026, 11, 1, 10, tzinfo=UTC)),
        (dt.datetime(2026, 1, 31, 12, tzinfo=UTC), dt.datetime(2026, 2, 28, 12, tzinfo=UTC)),
        (dt.datetime(2028, 1, 31, 12, tzinfo=UTC), dt.datetime(2028, 2, 29, 12, tzinfo=UTC)),
        (dt.datetime(2026, 12, 15, 12, tzinfo=UTC), dt.datetime(2027, 1, 15, 12, tzinfo=UTC)),
    ],
)
def test_the_notice_is_due_one_calendar_month_after(obtained: dt.datetime, due: dt.datetime) -> None:
    assert indirect.due_by(obtained) == due


OBTAINED = dt.datetime(2026, 10, 1, 9, tzinfo=UTC)
DUE = dt.datetime(2026, 11, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "told_at", "exempt", "now", "problem"),
    [
        ("partner_event", None, False, DUE, None),  # exactly at the deadline: still in time
        ("partner_event", None, False, DUE + dt.timedelta(seconds=1), "not told, due 2026-11-01"),
        ("partner_event", DUE, False, DUE + dt.timedelta(days=9), None),
        ("partner_event", DUE + dt.timedelta(days=3), False, DUE + dt.timedelta(days=9), "told 3 days late"),
        ("partner_event", None, True, DUE + dt.timedelta(days=9), None),  # an exemption recorded earlier
        ("public_register", None, False, DUE + dt.timedelta(days=400), None),  # the policy claims one
        ("form", None, False, DUE + dt.timedelta(days=400), None),  # direct
        ("demo", None, False, DUE + dt.timedelta(days=400), None),
    ],
)
def test_who_breaks_article_14(
    source: str, told_at: dt.datetime | None, exempt: bool, now: dt.datetime, problem: str | None
) -> None:
    facts = indirect.Art14Facts(source=source, obtained_at=OBTAINED, told_at=told_at, exemption_recorded=exempt)
    assert indirect.art14_problem(policy.current(), facts, now) == problem


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (broken('art14 = "notify"\n\n# A business', "\n# A business"), "sources.partner_event.art14", "missing"),
        (
            broken('art14 = "notify"\n\n# A business', 'art14 = "later"\n\n# A business'),
            "sources.partner_event.art14",
            "unknown choice",
        ),
        (
            broken('direct = true\nlabel = { en = "A form', 'direct = true\nart14 = "notify"\nlabel = { en = "A form'),
            "sources.form.art14",
            "only a source with direct = false",
        ),
        (
            broken('exemption = { article = "14(5)(b)"', 'exemption = { article = "14(6)"'),
            "sources.public_register.exemption.article",
            "unknown exemption",
        ),
        (
            broken('art14 = "exempt"\nexemption = {', 'art14 = "exempt"\nexemptions = {'),
            "sources.public_register.exemption",
            "missing",
        ),
    ],
)
def test_the_loader_names_a_source_that_does_not_say_how_article_14_is_met(text: str, key: str, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert caught.value.key == key
    assert problem in str(caught.value)


def test_a_policy_version_is_its_facts_not_its_layout() -> None:
    same = parse_policy(TEXT.replace("# The channels a purpose may use.", "# Channels."))
    renamed = parse_policy(TEXT.replace("personalisation", "tailoring"))
    assert same.digest != policy.current().digest
    assert versions.facts_digest(same) == versions.facts_digest(policy.current())
    assert versions.facts_digest(renamed) != versions.facts_digest(policy.current())
    texts = {"en": "A", "sv": "B", "nb": "C"}
    facts = versions.facts_digest(policy.current())
    assert versions.notice_digest(texts, purposes=["a", "b"], facts_digest=facts) == versions.notice_digest(
        texts, purposes=["b", "a"], facts_digest=facts
    )
    assert versions.notice_digest(texts, purposes=["a"], facts_digest=facts) != versions.notice_digest(
        texts, purposes=["b"], facts_digest=facts
    )


def test_the_version_in_force_at_a_moment() -> None:
    first, second = dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 6, 1, tzinfo=UTC)
    timeline = [(first, "v1"), (second, "v2")]
    assert versions.in_force(timeline, first - dt.timedelta(days=1), fallback="now") == "v1"
    assert versions.in_force(timeline, first, fallback="now") == "v1"
    assert versions.in_force(timeline, second - dt.timedelta(microseconds=1), fallback="now") == "v1"
    assert versions.in_force(timeline, second, fallback="now") == "v2"
    assert versions.in_force([], second, fallback="now") == "now"
