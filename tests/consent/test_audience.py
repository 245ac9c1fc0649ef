"""The set-based audience query and the eligibility rule agree, person by person, for every
purpose and channel, over a population with every kind of history."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest

from tillit import policy
from tillit.consent import selectors, services
from tillit.consent.models import ConsentEvent, NoticeVersion, Subscription
from tillit.people import services as people
from tillit.people.models import Person, Provenance

pytestmark = pytest.mark.django_db


def test_audience_equals_the_rule_for_everyone(system_actor, now):
    rng = random.Random(7)
    partial = NoticeVersion.objects.create(
        digest="3" * 64,
        policy_digest="p",
        published_at=now - dt.timedelta(days=9000),
        purposes=["newsletter", "customer_care"],
        texts={},
    )
    emails = ["post@firma.example", "info@firma.example"] + [f"person{n}@example.com" for n in range(40)]
    population = []
    for n, email in enumerate(emails):
        person = people.create_person(
            actor=system_actor, now=now, source="form", values={"name": f"P{n}", "email": email}
        )
        population.append(person)
        if rng.random() < 0.15:
            Person.objects.filter(pk=person.pk).update(notice_version=partial)
        if rng.random() < 0.3:
            people.start_customer_relationship(actor=system_actor, now=now, person_id=person.pk)
        if rng.random() < 0.3:
            Provenance.objects.create(
                person=person, field="email", source="order", recorded_at=now, detail="order 1; opt-out offered"
            )
        t = now
        for _ in range(rng.randint(0, 4)):
            t += dt.timedelta(minutes=1)
            purpose, channel = rng.choice(
                [
                    ("newsletter", "email"),
                    ("direct_marketing", "email"),
                    ("personalisation", "web"),
                    ("statistics", "web"),
                ]
            )
            action = rng.choice(["given", "given", "withdrawn"])
            ConsentEvent.objects.create(
                person=person,
                purpose=purpose,
                channel=channel,
                action=action,
                basis="consent",
                occurred_at=t,
                source_kind="form",
                wording="w",
                language="en",
                notice_version=selectors.current_notice(),
            )
        if rng.random() < 0.15:
            services.object_to_direct_marketing(
                actor=system_actor,
                now=t + dt.timedelta(minutes=5),
                person_id=person.pk,
                source_kind="staff",
                language="en",
            )
        if rng.random() < 0.15:
            services.record_gpc_objection(
                actor=system_actor, now=t + dt.timedelta(minutes=6), person_id=person.pk, language="en"
            )
        if rng.random() < 0.5:
            Subscription.objects.create(
                person=person,
                newsletter="monthly",
                subscribed_at=now,
                unsubscribed_at=None if rng.random() < 0.7 else now,
            )
    current = policy.current()
    checked = 0
    for purpose, channel in itertools.product(current.purposes, current.channels):
        in_audience = dict(selectors.audience(purpose=purpose, channel=channel).values_list("pk", "send_reason"))
        decisions = {p.pk: selectors.eligibility(person_id=p.pk, purpose=purpose, channel=channel) for p in population}
        by_rule = {pk: decision.reason for pk, decision in decisions.items() if decision.allowed}
        assert in_audience == by_rule, f"{purpose}/{channel}: the same people, allowed for the same reason"
        checked += len(by_rule)
    assert checked > 50, "the population exercises the rule"
    subscribed = set(
        selectors.audience(purpose="newsletter", channel="email", newsletter="monthly").values_list("pk", flat=True)
    )
    open_subs = set(Subscription.objects.filter(unsubscribed_at=None).values_list("person_id", flat=True))
    assert (
        subscribed
        == set(selectors.audience(purpose="newsletter", channel="email").values_list("pk", flat=True)) & open_subs
    )
