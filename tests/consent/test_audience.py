"""The set-based audience query and the eligibility rule agree, person by person, for every
purpose and channel (so every call list and every campaign audience), over a population with
every kind of history: consents, objections, suppressions, restrictions (art. 18), numbers
reserved in the Reservasjonsregisteret, open and closed dialogues opened by
staff or by the person's own requests before and after an objection, and orders with and
without the opt-out offered, in similar and unrelated product categories."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest

from tillit import policy
from tillit.consent import reservations, selectors, services
from tillit.consent.models import ConsentEvent, NoticeVersion, Subscription
from tillit.marketing.selectors import callable_people
from tillit.people import dialogues, restrictions
from tillit.people import services as people
from tillit.people.models import Person, Purchase
from tillit.policy import restriction as restriction_rule

pytestmark = pytest.mark.django_db


def test_audience_equals_the_rule_for_everyone(system_actor, now, tmp_path):
    rng = random.Random(7)
    restricting = random.Random(18)
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
        values = {"name": f"P{n}", "email": email}
        if rng.random() < 0.7:
            values["phone"] = f"+4791{n:06d}"
        person = people.create_person(actor=system_actor, now=now, source="form", values=values)
        population.append(person)
        if rng.random() < 0.15:
            Person.objects.filter(pk=person.pk).update(notice_version=partial)
        if rng.random() < 0.3:
            people.start_customer_relationship(actor=system_actor, now=now, person_id=person.pk)
        for k in range(rng.choice([0, 0, 1, 2])):
            Purchase.objects.create(
                person=person,
                order_number=f"O-{n}-{k}",
                product=rng.choice(["cloud", "backup", "payroll", "analytics"]),
                purchased_at=now + dt.timedelta(seconds=rng.randint(0, 600)),
                opt_out_wording="" if rng.random() < 0.3 else "Tick here if you do not want offers from us by email.",
                opt_out_language="en",
                opt_out_refused=rng.random() < 0.1,
            )
        if rng.random() < 0.3:
            dialogues.open_dialogue(
                actor=system_actor, now=now, person_id=person.pk, kind=rng.choice(["sales", "customer"])
            )
        if rng.random() < 0.3:
            people.record_interaction(
                actor=system_actor,
                now=now,
                person_id=person.pk,
                kind=rng.choice(["form", "email", "chat"]),
                direction="inbound",
            )
        if rng.random() < 0.1:
            dialogues.close_dialogue(actor=system_actor, now=now, person_id=person.pk, kind="sales")
        t = now
        for _ in range(rng.randint(0, 4)):
            t += dt.timedelta(minutes=1)
            purpose, channel = rng.choice(
                [
                    ("newsletter", "email"),
                    ("direct_marketing", "email"),
                    ("direct_marketing", "phone"),
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
        if rng.random() < 0.1:
            services.suppress(
                now=t + dt.timedelta(minutes=4),
                email=None if rng.random() < 0.5 else email,
                phone=values.get("phone"),
                reason="bounce",
            )
        if rng.random() < 0.4:
            # A request after the objection or suppression (or before, if there was none).
            people.record_interaction(
                actor=system_actor,
                now=t + dt.timedelta(minutes=10),
                person_id=person.pk,
                kind="call",
                direction="inbound",
                occurred_at=t + dt.timedelta(minutes=rng.choice([3, 10])),
            )
        if rng.random() < 0.15:
            services.record_gpc_objection(
                actor=system_actor, now=t + dt.timedelta(minutes=6), person_id=person.pk, language="en"
            )
        if restricting.random() < 0.15:  # its own generator: the rest of the population stays as it was
            restrictions.restrict_processing(
                actor=system_actor, now=t, person_id=person.pk, grounds=restricting.choice(restriction_rule.GROUNDS)
            )
        if rng.random() < 0.5:
            Subscription.objects.create(
                person=person,
                newsletter="monthly",
                subscribed_at=now,
                unsubscribed_at=None if rng.random() < 0.7 else now,
            )
    # The Reservasjonsregisteret (mfl. §13): about half the numbers are reserved in the
    # extract in force; an older extract that reserved the others no longer counts.
    numbers = [p.phone for p in population if p.phone]
    older = tmp_path / "older.txt"
    older.write_text("\n".join(numbers))
    reservations.import_extract(
        actor=system_actor, now=now, path=older, extracted_on=now.date() - dt.timedelta(days=40)
    )
    extract = tmp_path / "extract.txt"
    extract.write_text("number\n" + "\n".join(n for n in numbers if rng.random() < 0.5) + "\n+4790000000\n")
    reservations.import_extract(actor=system_actor, now=now, path=extract, extracted_on=now.date())
    current = policy.current()
    checked = 0
    reasons: set[str] = set()
    # Judged now, and later when the web consents (6 months) and then every consent (24
    # months) have lapsed for those who did not engage since (consent lifetime, §5).
    moments = [now, now + dt.timedelta(days=200), now + dt.timedelta(days=740)]
    for at, (purpose, channel), products in itertools.product(
        moments,
        itertools.product(current.purposes, current.channels),
        [(), ("infrastructure",), ("payroll", "analytics")],
    ):
        if at != now and current.purposes[purpose].bases.get(channel) != "consent":
            continue  # only consents have a lifetime
        in_audience = dict(
            selectors.audience(purpose=purpose, channel=channel, products=products, now=at).values_list(
                "pk", "send_reason"
            )
        )
        decisions = {
            p.pk: selectors.eligibility(person_id=p.pk, purpose=purpose, channel=channel, products=products, now=at)
            for p in population
        }
        by_rule = {pk: decision.recorded for pk, decision in decisions.items() if decision.allowed}
        assert in_audience == by_rule, (
            f"{at}: {purpose}/{channel}/{products}: the same people, allowed for the same reason"
        )
        checked += len(by_rule)
        reasons |= {d.reason for d in decisions.values()}
    assert checked > 50, "the population exercises the rule"
    assert {
        "existing_customer",
        "no_open_dialogue",
        "objected",
        "suppressed",
        "legitimate_interest",
        "restricted",
        "consent_expired",
        "reserved",
    } <= reasons
    answered = [
        p.pk
        for p in population
        if selectors.contact_facts(person_id=p.pk).objected_to_marketing
        and selectors.eligibility(person_id=p.pk, purpose="sales_dialogue", channel="phone", now=now).allowed
    ]
    assert answered, "some objected and then asked us something: they may be answered"
    # The call lists are the audience by phone: the same people, person by person.
    for purpose in ("sales_dialogue", "direct_marketing"):
        listed = set(callable_people(purpose).values_list("pk", flat=True))
        allowed = {
            p.pk
            for p in population
            if p.phone and selectors.eligibility(person_id=p.pk, purpose=purpose, channel="phone").allowed
        }
        assert listed == allowed, f"the {purpose} call list is the rule by phone"
        assert listed, f"the {purpose} call list is exercised"
    reserved_but_called = [
        p.pk
        for p in population
        if selectors.contact_facts(person_id=p.pk).phone_reserved
        and selectors.eligibility(person_id=p.pk, purpose="direct_marketing", channel="phone").allowed
    ]
    assert reserved_but_called, "some reserved numbers are existing customers or asked to be called"
    subscribed = set(
        selectors.audience(purpose="newsletter", channel="email", newsletter="monthly").values_list("pk", flat=True)
    )
    open_subs = set(Subscription.objects.filter(unsubscribed_at=None).values_list("person_id", flat=True))
    assert (
        subscribed
        == set(selectors.audience(purpose="newsletter", channel="email").values_list("pk", flat=True)) & open_subs
    )
