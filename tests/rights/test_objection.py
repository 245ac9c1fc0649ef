"""An objection to processing based on our legitimate interests (GDPR art. 21(1); checklist
item 40): unlike the absolute objection to direct marketing, it opens a case with a due date;
the privacy officer weighs it, and either the purpose stops for the person or the person is
told the compelling grounds, with their right to complain."""

from __future__ import annotations

import re

import pytest
import time_machine

from tillit import policy
from tillit.consent import selectors as consent_selectors
from tillit.consent.models import ConsentEvent
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError
from tillit.people import services as people
from tillit.policy import rights as rule
from tillit.rights import services
from tillit.rights.models import DataSubjectRequest

PORTAL = Actor(kind="data_subject", role=None, user_id=None, label="data_subject:test")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(now, immediate_tasks):
    with time_machine.travel(now, tick=False):
        yield


@pytest.fixture
def person(system_actor, now):
    from tillit.people import dialogues

    person = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Testperson Objecting", "email": "objecting@example.com", "phone": "41234567"},
    )
    # In an open sales dialogue (issue 15): else sales_dialogue reaches nobody to object to.
    dialogues.open_dialogue(actor=system_actor, now=now, person_id=person.pk, kind="sales")
    return person


def _object(now, smtp_server, purpose="sales_dialogue", details="I only wanted one answer, not a dialogue."):
    services.submit_request(
        actor=PORTAL,
        now=now,
        email="objecting@example.com",
        kind="objection_processing",
        language="en",
        details=details,
        objection_purpose=purpose,
        ip="192.0.2.20",
    )
    token = re.search(r"/rights/verify/([^/\s]+)/", smtp_server.messages[-1].get_content()).group(1)
    return services.confirm_verification(actor=PORTAL, now=now, token=token)


def test_the_purposes_open_to_a_balancing_objection_come_from_the_policy():
    current = policy.current()
    purposes = rule.balancing_purposes(current)
    assert purposes == ("sales_dialogue",)
    for key in purposes:
        assert current.purposes[key].objectable
        assert not current.purposes[key].marketing
    # Direct marketing is not among them: that objection is absolute and needs no balancing.
    assert "direct_marketing" not in purposes
    assert "objection_processing" in rule.request_kinds(current)


@pytest.mark.parametrize("purpose", ["", "direct_marketing", "customer_care", "no-such-purpose"])
def test_an_objection_must_name_a_purpose_that_rests_on_our_legitimate_interests(now, purpose):
    with pytest.raises(ValidationError) as error:
        services.submit_request(
            actor=PORTAL,
            now=now,
            email="objecting@example.com",
            kind="objection_processing",
            language="en",
            objection_purpose=purpose,
        )
    assert error.value.field == "objection_purpose"
    assert not DataSubjectRequest.objects.exists()


def test_a_verified_objection_opens_a_case_with_a_due_date_and_stops_nothing_yet(person, now, smtp_server):
    result = _object(now, smtp_server)
    assert result.status == "in_progress"
    assert result.staff_step_reason == rule.BALANCING
    request = DataSubjectRequest.objects.get()
    assert request.objection_purpose == "sales_dialogue"
    assert request.due_on == rule.due_on(policy.current(), now)
    assert consent_selectors.eligibility(person_id=person.pk, purpose="sales_dialogue", channel="phone").allowed


def test_upheld_the_purpose_stops_on_every_channel_and_the_person_is_told(person, now, smtp_server, staff_actor):
    _object(now, smtp_server)
    request = DataSubjectRequest.objects.get()
    services.complete_request(actor=staff_actor("privacy_officer"), now=now, request_id=request.pk)
    for channel in ("email", "phone"):
        decision = consent_selectors.eligibility(person_id=person.pk, purpose="sales_dialogue", channel=channel)
        assert not decision.allowed
        assert decision.reason == "objected"
    entry = ConsentEvent.objects.get(person_id=person.pk, action="objected")
    assert (entry.purpose, entry.basis) == ("sales_dialogue", "legitimate_interest")
    assert "21(1)" in entry.wording
    answer = smtp_server.messages[-1].get_content()
    assert "upheld your objection" in answer
    assert "sales dialogue" in answer
    request.refresh_from_db()
    assert request.status == "completed"
    assert request.details == ""


def test_refused_the_person_gets_the_grounds_and_the_purpose_goes_on(person, now, smtp_server, staff_actor):
    _object(now, smtp_server)
    request = DataSubjectRequest.objects.get()
    grounds = "You have an open support case under your company's service agreement; we must follow it up."
    services.refuse_request(actor=staff_actor("privacy_officer"), now=now, request_id=request.pk, reason=grounds)
    assert consent_selectors.eligibility(person_id=person.pk, purpose="sales_dialogue", channel="phone").allowed
    assert not ConsentEvent.objects.filter(person_id=person.pk, action="objected").exists()
    answer = smtp_server.messages[-1].get_content()
    assert "open support case" in answer
    assert "Datatilsynet" in answer  # the right to complain goes with a refusal


def test_the_portal_offers_the_objection_and_names_a_missing_purpose(client):
    page = client.get("/rights?lang=en").content.decode()
    assert 'value="objection_processing"' in page
    assert 'value="sales_dialogue"' in page
    response = client.post(
        "/rights?lang=en", {"email": "objecting@example.com", "kind": "objection_processing", "lang": "en"}
    )
    assert response.status_code == 422
    assert "which use of your data you object to" in response.content.decode()
    assert not DataSubjectRequest.objects.exists()
