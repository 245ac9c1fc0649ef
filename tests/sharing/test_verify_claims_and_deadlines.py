"""``tillit verify`` reports a marketing email claimed after the person objected, withdrew or
left the newsletter, and every stored deadline that the rule, applied to the facts, puts
elsewhere (issue 24, items 1 and 3). Each check: a clean system reports nothing, a planted
violation is reported by person."""

from __future__ import annotations

import datetime as dt

import pytest

from tillit.consent import services as consent
from tillit.marketing.models import Campaign, NewsletterList, SendRecord
from tillit.people import services as people
from tillit.people.models import Person
from tillit.sharing import verifier

from .conftest import NOW

pytestmark = pytest.mark.django_db
WORDING = "Yes, tell me about Avara's products by email."


def reported(kind: str) -> dict[str, str]:
    return {v.subject: v.detail for v in verifier.violations(now=NOW) if v.kind == kind}


def claim(campaign: Campaign, person: Person, at: dt.datetime, status: str = "sent") -> SendRecord:
    """A send record as the claim leaves it: the moment of the claim and the basis."""
    return SendRecord.objects.create(
        campaign=campaign,
        person=person,
        status=status,
        basis="consent",
        message_id=f"<{campaign.pk}.{person.pk}@example.com>",
        sent_at=at,
    )


@pytest.fixture
def campaigns(system_actor, crowd):  # type: ignore[no-untyped-def]
    """Everyone in the crowd consented to direct marketing by email and subscribed to the
    monthly newsletter five days ago; one campaign of each."""
    monthly = NewsletterList.objects.create(
        key="monthly", name={"en": "Monthly"}, purpose="newsletter", created_at=NOW - dt.timedelta(days=30)
    )
    for person in crowd:
        consent.record_consent(
            actor=system_actor,
            now=NOW - dt.timedelta(days=5),
            person_id=person.pk,
            purpose="direct_marketing",
            channel="email",
            source_kind="form",
            wording=WORDING,
            language="en",
        )
        consent.open_subscription(
            actor=system_actor,
            now=NOW - dt.timedelta(days=5),
            person_id=person.pk,
            newsletter="monthly",
            source_kind="double_opt_in",
            wording="Yes, send me the monthly newsletter.",
            language="en",
        )
    offer = Campaign.objects.create(name="Offer", purpose="direct_marketing", created_at=NOW - dt.timedelta(days=1))
    letter = Campaign.objects.create(
        name="Letter", purpose="newsletter", newsletter=monthly, created_at=NOW - dt.timedelta(days=1)
    )
    return offer, letter


def test_sends_claimed_before_any_objection_are_clean(system_actor, crowd, campaigns):
    offer, letter = campaigns
    for person in crowd:
        claim(offer, person, NOW - dt.timedelta(hours=2))
        claim(letter, person, NOW - dt.timedelta(hours=2))
    # Everyone says no after the sends were claimed: nothing to report.
    hour_ago = NOW - dt.timedelta(hours=1)
    consent.object_to_direct_marketing(
        actor=system_actor, now=hour_ago, person_id=crowd[0].pk, source_kind="staff", language="en"
    )
    consent.opt_out(
        actor=system_actor,
        now=hour_ago,
        person_id=crowd[1].pk,
        purpose="direct_marketing",
        channel="email",
        source_kind="email_link",
        language="en",
    )
    consent.end_subscription(
        actor=system_actor,
        now=hour_ago,
        person_id=crowd[2].pk,
        newsletter="monthly",
        source_kind="email_link",
        language="en",
    )
    assert reported("send_after_objection") == {}


def test_a_send_claimed_after_an_objection_withdrawal_or_unsubscribe_is_reported(system_actor, crowd, campaigns):
    offer, letter = campaigns
    objects, withdraws, leaves = crowd
    hour_ago = NOW - dt.timedelta(hours=1)
    consent.object_to_direct_marketing(
        actor=system_actor, now=hour_ago, person_id=objects.pk, source_kind="staff", language="en"
    )
    consent.opt_out(
        actor=system_actor,
        now=hour_ago,
        person_id=withdraws.pk,
        purpose="direct_marketing",
        channel="email",
        source_kind="email_link",
        language="en",
    )
    consent.end_subscription(
        actor=system_actor, now=hour_ago, person_id=leaves.pk, newsletter="monthly", source_kind="email_link",
        language="en",
    )  # fmt: skip
    # The batch began before the refusals; each message was claimed after them.
    after_objection = claim(offer, objects, NOW, status="sending")
    letter_after_objection = claim(letter, objects, NOW, status="bounced")
    after_withdrawal = claim(offer, withdraws, NOW - dt.timedelta(minutes=45))
    after_unsubscribe = claim(letter, leaves, NOW)
    claim(letter, withdraws, NOW)  # withdrew direct marketing only: the newsletter still holds
    claim(offer, leaves, NOW)  # left the newsletter only: direct marketing still holds

    # A new consent after the withdrawal: a later claim is in order again, an earlier one not.
    consent.record_consent(
        actor=system_actor,
        now=NOW - dt.timedelta(minutes=30),
        person_id=withdraws.pk,
        purpose="direct_marketing",
        channel="email",
        source_kind="form",
        wording=WORDING,
        language="en",
    )
    second = Campaign.objects.create(name="Offer 2", purpose="direct_marketing", created_at=NOW)
    claim(second, withdraws, NOW)

    found = reported("send_after_objection")

    def subject(send: SendRecord, person: Person) -> str:
        return f"send:#{send.pk} person:{person.pseudonym}"

    assert set(found) == {
        subject(after_objection, objects),
        subject(letter_after_objection, objects),
        subject(after_withdrawal, withdraws),
        subject(after_unsubscribe, leaves),
    }
    assert found[subject(after_objection, objects)] == "claimed after the person objected to direct_marketing"
    assert found[subject(letter_after_objection, objects)] == "claimed after the person objected to direct_marketing"
    assert found[subject(after_withdrawal, withdraws)] == "claimed after the person withdrew direct_marketing"
    assert found[subject(after_unsubscribe, leaves)] in (
        "claimed after the person left the newsletter monthly",
        "claimed after the person withdrew newsletter",
    )


def test_deadlines_that_follow_from_their_facts_are_clean(system_actor, crowd):
    people.start_customer_relationship(actor=system_actor, now=NOW, person_id=crowd[0].pk)
    consent.open_subscription(
        actor=system_actor,
        now=NOW,
        person_id=crowd[1].pk,
        newsletter="monthly",
        source_kind="double_opt_in",
        wording="Yes, send me the monthly newsletter.",
        language="en",
    )
    assert reported("deadline_differs") == {}


def test_a_deadline_early_or_late_against_its_facts_is_reported(system_actor, crowd):
    customer, former, kept = crowd
    people.start_customer_relationship(actor=system_actor, now=NOW, person_id=customer.pk)
    # The race of issue 24: a concurrent write put the old deadline back on an active customer.
    stale_until = NOW + dt.timedelta(days=30)
    Person.objects.filter(pk=customer.pk).update(retain_until=stale_until, retain_reason="dialogue")
    # The mirror case: someone with no ground to be kept, stored without a deadline.
    Person.objects.filter(pk=former.pk).update(retain_until=None, retain_reason="customer")

    found = reported("deadline_differs")
    assert set(found) == {f"person:{customer.pseudonym}", f"person:{former.pseudonym}"}
    assert found[f"person:{customer.pseudonym}"].startswith(f"too early: stored {stale_until:%Y-%m-%d} (dialogue)")
    assert found[f"person:{former.pseudonym}"].startswith("too late: stored none (customer)")
    assert f"person:{kept.pseudonym}" not in found


@pytest.mark.django_db(transaction=True)
def test_a_claim_is_judged_in_commit_order_not_by_the_batch_clock(system_actor, crowd, campaigns):
    """Issue 24's race: a batch began (its moment is the one every send records), a person
    objected and it committed, and only then was their message claimed. The send says it went
    before the objection; the order of commits says otherwise."""
    from tillit.marketing import delivery

    offer, _ = campaigns
    objects, withdraws, earlier = crowd
    batch_began = NOW - dt.timedelta(hours=1)
    records = {
        p.pk: SendRecord.objects.create(campaign=offer, person=p, message_id=f"<race.{p.pk}@example.com>")
        for p in crowd
    }

    def claim_now(person: Person) -> None:
        """The real claim of the send path, with the batch's moment."""
        handover = delivery.claim_record(
            table=SendRecord._meta.db_table, pk=records[person.pk].pk, now=batch_began, basis="consent"
        )
        assert handover is not None
        handover(lambda: None)
        SendRecord.objects.filter(pk=records[person.pk].pk).update(status="sent")

    # Claimed before the objection commits, although the objection's clock says earlier: fine.
    claim_now(earlier)
    consent.object_to_direct_marketing(
        actor=system_actor,
        now=batch_began - dt.timedelta(minutes=10),
        person_id=earlier.pk,
        source_kind="staff",
        language="en",
    )
    # Objected and withdrew while the batch was sending (committed), claimed after: reported.
    consent.object_to_direct_marketing(
        actor=system_actor,
        now=batch_began + dt.timedelta(minutes=5),
        person_id=objects.pk,
        source_kind="staff",
        language="en",
    )
    consent.opt_out(
        actor=system_actor,
        now=batch_began + dt.timedelta(minutes=5),
        person_id=withdraws.pk,
        purpose="direct_marketing",
        channel="email",
        source_kind="email_link",
        language="en",
    )
    claim_now(objects)
    claim_now(withdraws)
    assert SendRecord.objects.get(pk=records[objects.pk].pk).sent_at == batch_began  # what the record says

    assert set(reported("send_after_objection")) == {
        f"send:#{records[objects.pk].pk} person:{objects.pseudonym}",
        f"send:#{records[withdraws.pk].pk} person:{withdraws.pseudonym}",
    }
