"""``tillit verify`` finds every kind of violation planted directly in the database, prints
each with its kind and a pseudonymous id, then a total, exits non-zero if any, and reports 0
on a healthy system (the demo data after a sweep). The privacy officer sees the same report,
with a history of runs."""

from __future__ import annotations

import datetime as dt
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from tillit.audit import services as audit
from tillit.consent import services as consent
from tillit.consent.models import ConsentEvent, NoticeVersion
from tillit.core.actors import Actor
from tillit.people import selectors as people_selectors
from tillit.people.models import Person
from tillit.sharing import services, verifier
from tillit.sharing.models import DisclosedPerson, Disclosure, VerifyRun

from .conftest import NOW

BASIC = ["name", "email", "phone", "organisation"]


def found(now: dt.datetime = NOW) -> list[verifier.Violation]:
    return list(verifier.violations(now=now))


def kinds(now: dt.datetime = NOW) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for v in found(now):
        result.setdefault(v.kind, []).append(v.subject)
    return result


@pytest.fixture
def healthy(db, sales, staff_actor, dialogue, crowd, system_actor):  # type: ignore[no-untyped-def]
    """A small, healthy system: people, consents, a disclosure, reads by roles that may."""
    consent.record_consent(
        actor=system_actor,
        now=NOW - dt.timedelta(days=5),
        person_id=crowd[0].pk,
        purpose="newsletter",
        channel="email",
        source_kind="form",
        wording="Yes, send me the newsletter.",
        language="en",
    )
    services.disclose(
        actor=sales, now=NOW - dt.timedelta(days=1), dialogue_id=dialogue.pk, categories=BASIC, channel="json"
    )
    people_selectors.get_person(actor=sales, now=NOW, person_id=crowd[0].pk, purpose="sales_dialogue")
    people_selectors.search_people(actor=staff_actor("marketing"), now=NOW, purpose="direct_marketing")
    return {"crowd": crowd, "dialogue": dialogue}


@pytest.mark.django_db
def test_a_healthy_system_has_no_violations(healthy):
    assert found() == []
    out = StringIO()
    call_command("verify", stdout=out)
    assert out.getvalue().splitlines()[-1].startswith("0 violations")
    run = VerifyRun.objects.get()
    assert (run.total, run.actor_label) == (0, "cli:verify")


@pytest.mark.django_db
def test_a_person_kept_past_the_deadline(healthy):
    long_ago = NOW - dt.timedelta(days=3 * 365)
    stale = Person.objects.create(
        name="Glemt Person",
        created_at=long_ago,
        updated_at=long_ago,
        retain_until=NOW + dt.timedelta(days=30),  # a stale deadline: the facts say otherwise
        retain_reason="dialogue",
    )
    assert kinds()["past_deadline"] == [f"person:{stale.pseudonym}"]
    # Two years and one day from registration exactly: the boundary of the rule.
    assert "past_deadline" not in kinds(now=long_ago + dt.timedelta(days=365 * 2 - 2))


@pytest.mark.django_db
def test_consents_without_wording(healthy):
    person = healthy["crowd"][1]
    event = ConsentEvent.objects.create(
        person=person,
        purpose="newsletter",
        channel="email",
        action="given",
        basis="consent",
        occurred_at=NOW,
        source_kind="form",
        wording="  ",
        language="en",
        notice_version=NoticeVersion.objects.first(),
    )
    assert kinds()["consent_without_wording"] == [f"consent:#{event.pk} person:{person.pseudonym}"]


@pytest.mark.django_db
def test_a_disclosure_of_a_forbidden_field_and_at_a_forbidden_time(healthy, sales):
    dialogue = healthy["dialogue"]
    person = healthy["crowd"][2]
    planted = Disclosure.objects.create(
        partner=dialogue.partner,
        dialogue=dialogue,
        basis="open_dialogue",
        purpose="sales_dialogue",
        channel="csv",
        categories=["name", "position"],
        people=2,
        disclosed_at=NOW,
        actor_label="staff:planted",
    )
    DisclosedPerson.objects.create(disclosure=planted, pseudonym=person.pseudonym, categories=["name", "position"])
    early = Disclosure.objects.create(
        partner=dialogue.partner,
        dialogue=dialogue,
        basis="open_dialogue",
        purpose="sales_dialogue",
        channel="csv",
        categories=["name"],
        people=1,
        disclosed_at=dialogue.opened_at - dt.timedelta(days=1),
        actor_label="staff:planted",
    )
    DisclosedPerson.objects.create(disclosure=early, pseudonym=person.pseudonym, categories=["name"])
    result = kinds()
    assert result["disclosure_forbidden_field"] == [
        f"disclosure:{planted.reference} row:#{planted.rows.get().pk} person:{person.pseudonym}"
    ]
    assert result["disclosure_forbidden_time"] == [
        f"disclosure:{early.reference} row:#{early.rows.get().pk} person:{person.pseudonym}"
    ]


@pytest.mark.django_db
def test_a_disclosure_after_an_objection(healthy, system_actor):
    dialogue = healthy["dialogue"]
    person = healthy["crowd"][1]
    consent.record_gpc_objection(
        actor=system_actor, now=NOW - dt.timedelta(hours=1), person_id=person.pk, language="en"
    )
    planted = Disclosure.objects.create(
        partner=dialogue.partner,
        dialogue=dialogue,
        basis="open_dialogue",
        purpose="sales_dialogue",
        channel="json",
        categories=["name"],
        people=1,
        disclosed_at=NOW,
        actor_label="staff:planted",
    )
    DisclosedPerson.objects.create(disclosure=planted, pseudonym=person.pseudonym, categories=["name"])
    [violation] = [v for v in found() if v.kind == "disclosure_forbidden_time"]
    assert violation.detail == "after an objection"


@pytest.mark.django_db
def test_reads_by_a_role_the_policy_does_not_allow(healthy):
    person = healthy["crowd"][0]
    marketing = Actor(kind="staff", role="marketing", user_id=None, label="staff:planted")
    entry = audit.record(
        actor=marketing,
        now=NOW,
        action="read",
        subject_type="person",
        subject_id=person.pk,
        purpose="customer_care",
        fields=["name"],
    )
    sales = Actor(kind="api_client", role="sales", user_id=None, label="api:planted")
    peek = audit.record(
        actor=sales,
        now=NOW,
        action="read",
        subject_type="person",
        subject_id=person.pk,
        purpose="customer_care",
        fields=["name", "position"],  # sales does not see position for customer care
    )
    admin = Actor(kind="staff", role="administrator", user_id=None, label="staff:admin")
    nosy = audit.record(
        actor=admin, now=NOW, action="search", subject_type="person", subject_id=person.pk, purpose="", fields=["name"]
    )
    violations = [v for v in found() if v.kind == "read_by_forbidden_role"]
    assert [v.subject for v in violations] == [
        f"audit:#{entry.sequence} person:#{person.pk}",
        f"audit:#{peek.sequence} person:#{person.pk}",
        f"audit:#{nosy.sequence} person:#{person.pk}",
    ]
    assert "'position'" in violations[1].detail


@pytest.mark.django_db
def test_a_broken_audit_chain(healthy):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET purpose = 'statistics' WHERE sequence = 2")
    assert kinds()["audit_chain_broken"] == ["audit:#2"]


@pytest.mark.django_db
def test_an_unclassified_field(healthy, monkeypatch):
    from tillit.policy import classification

    registry = dict(classification.FIELDS)
    del registry["people.Person.position"]
    registry["people.Person.phone"] = "shoe_size"
    monkeypatch.setattr(classification, "FIELDS", registry)
    assert sorted(kinds()["unclassified_field"]) == ["field:people.Person.phone", "field:people.Person.position"]


@pytest.mark.django_db
def test_marketing_sends_without_a_basis_and_to_suppressed_addresses(healthy, system_actor, staff_actor):
    from tillit.marketing.models import Campaign, SendRecord

    crowd = healthy["crowd"]
    campaign = Campaign.objects.create(name="Planted", purpose="newsletter", created_at=NOW)
    # Consent to the newsletter was given (healthy fixture) for crowd[0]: a send with a basis.
    sent = {"status": "sent", "basis": "consent"}  # what each record claims
    ok = SendRecord.objects.create(campaign=campaign, person=crowd[0], message_id="<a@x>", sent_at=NOW, **sent)
    # crowd[1] never consented: no basis at send time, whatever the record says.
    bad = SendRecord.objects.create(campaign=campaign, person=crowd[1], message_id="<b@x>", sent_at=NOW, **sent)
    # A send before the consent was given had no basis then, even if it has one now.
    early = Campaign.objects.create(name="Early", purpose="newsletter", created_at=NOW)
    too_early = SendRecord.objects.create(
        campaign=early, person=crowd[0], message_id="<c@x>", sent_at=NOW - dt.timedelta(days=6), **sent
    )
    # A send that recorded no basis at all.
    unrecorded = SendRecord.objects.create(
        campaign=Campaign.objects.create(name="Unrecorded", purpose="newsletter", created_at=NOW),
        person=crowd[0],
        status="sent",
        message_id="<e@x>",
        sent_at=NOW - dt.timedelta(hours=2),
    )
    consent.suppress(now=NOW - dt.timedelta(hours=1), email=crowd[0].email, phone=None, reason="bounce")
    late = Campaign.objects.create(name="Late", purpose="newsletter", created_at=NOW)
    suppressed = SendRecord.objects.create(campaign=late, person=crowd[0], message_id="<d@x>", sent_at=NOW, **sent)
    result = kinds()
    assert sorted(result["send_without_basis"]) == sorted(
        [
            f"send:#{bad.pk} person:{crowd[1].pseudonym}",
            f"send:#{too_early.pk} person:{crowd[0].pseudonym}",
            f"send:#{unrecorded.pk} person:{crowd[0].pseudonym}",
        ]
    )
    assert sorted(result["send_to_suppressed"]) == sorted(
        [f"send:#{ok.pk} person:{crowd[0].pseudonym}", f"send:#{suppressed.pk} person:{crowd[0].pseudonym}"]
    )


@pytest.mark.django_db
def test_the_command_prints_each_violation_and_exits_non_zero(healthy):
    long_ago = NOW - dt.timedelta(days=3 * 365)
    stale = Person.objects.create(name="Glemt", created_at=long_ago, updated_at=long_ago)
    from tillit.retention.services import recompute_retention

    recompute_retention(person=stale, now=NOW)  # its deadline stored (passed): one violation only
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("verify", stdout=out)
    assert exited.value.code == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"past_deadline\tperson:{stale.pseudonym}\t")
    assert "Glemt" not in out.getvalue(), "pseudonymous ids only"
    assert "past_deadline: 1" in lines
    assert lines[-1].startswith("1 violation ")
    run = VerifyRun.objects.get()
    assert run.counts["past_deadline"] == 1
    assert run.violations[0]["subject"] == f"person:{stale.pseudonym}"


@pytest.mark.django_db(transaction=True)
def test_the_demo_data_after_a_sweep_has_no_violations(now):
    from tillit.people import demo
    from tillit.retention import services as retention

    demo.generate_demo(people=300, seed=11, now=now)
    before = verifier.run(now=now)
    retention.sweep(actor=Actor.system("tests"), now=now)
    after = verifier.run(now=now)
    assert after.total == 0, dict(after.counts)
    assert before.counts.get("past_deadline", 0) >= 0
    assert uuid.UUID  # pseudonyms are UUIDs
