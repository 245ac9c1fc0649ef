"""Consent has a lifetime (policy §5, ``[consent_lifetime]``), in the database: the audience
query and the rule agree person by person exactly at the boundary, and only the person's own
engagement (an inbound form, an answered call) or a renewal keeps a consent alive."""

from __future__ import annotations

import datetime as dt

import pytest

from tillit.consent import selectors, services
from tillit.people import services as people
from tillit.policy.retention import add_years

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)


def consenting(system_actor, now, email: str):  # type: ignore[no-untyped-def]
    person = people.create_person(actor=system_actor, now=now, source="form", values={"name": "K", "email": email})
    services.record_consent(
        actor=system_actor,
        now=now,
        person_id=person.pk,
        purpose="newsletter",
        channel="email",
        source_kind="form",
        wording="Yes, send me the newsletter from Avara AS. I can withdraw at any time.",
        language="en",
    )
    return person


def judged(person_ids: list[int], at: dt.datetime) -> dict[int, str]:
    """Who the audience query reaches at ``at``, and the rule agrees, person by person."""
    in_audience = dict(
        selectors.audience(purpose="newsletter", channel="email", now=at)
        .filter(pk__in=person_ids)
        .values_list("pk", "send_reason")
    )
    by_rule = {}
    for pk in person_ids:
        decision = selectors.eligibility(person_id=pk, purpose="newsletter", channel="email", now=at)
        if decision.allowed:
            by_rule[pk] = decision.recorded
    assert in_audience == by_rule, at
    return in_audience


def test_a_consent_lapses_exactly_24_months_after_the_last_engagement(system_actor, now):
    quiet = consenting(system_actor, now, "quiet@example.com")
    wrote = consenting(system_actor, now, "wrote@example.com")
    mailed = consenting(system_actor, now, "mailed@example.com")
    answered = consenting(system_actor, now, "answered@example.com")
    missed = consenting(system_actor, now, "missed@example.com")
    renewed = consenting(system_actor, now, "renewed@example.com")
    role = consenting(system_actor, now, "post@firma.example")
    later = now + dt.timedelta(days=90)
    people.record_interaction(actor=system_actor, now=later, person_id=wrote.pk, kind="form", direction="inbound")
    people.record_interaction(actor=system_actor, now=later, person_id=mailed.pk, kind="email", direction="outbound")
    people.record_interaction(
        actor=system_actor, now=later, person_id=answered.pk, kind="call", direction="outbound", reached=True
    )
    people.record_interaction(actor=system_actor, now=later, person_id=missed.pk, kind="call", direction="outbound")
    services.record_consent(
        actor=system_actor,
        now=later,
        person_id=renewed.pk,
        purpose="newsletter",
        channel="email",
        source_kind="email_link",
        wording="Yes, keep sending me the newsletter.",
        language="en",
    )
    everyone = [p.pk for p in (quiet, wrote, mailed, answered, missed, renewed, role)]

    end = add_years(now, 2)  # 24 months
    assert set(judged(everyone, end - SECOND)) == set(everyone)
    at_end = judged(everyone, end)
    assert set(at_end) == {wrote.pk, answered.pk, renewed.pk, role.pk}, "our own email and a missed call count not"
    assert at_end[role.pk] == "role_address", "a role address never rested on consent alone"
    assert selectors.eligibility(person_id=quiet.pk, purpose="newsletter", channel="email", now=end).reason == (
        "consent_expired"
    )
    after = add_years(later, 2)
    assert set(judged(everyone, after - SECOND)) == {wrote.pk, answered.pk, renewed.pk, role.pk}
    assert set(judged(everyone, after)) == {role.pk}
