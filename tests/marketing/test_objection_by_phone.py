"""Issue 15, item 2: an objection by phone takes effect during the call. Every role that may
talk to people records it (the policy decides which), with the channel it came by, the time,
the staff member and a note; at once the ledger, the suppression list, the call lists and a
campaign in progress all stop marketing to the person; audited."""

from __future__ import annotations

import json

import pytest
from django.core.mail import get_connection
from django.utils import timezone

from tillit import policy
from tillit.audit.models import AuditEntry
from tillit.consent import selectors as consent_selectors
from tillit.consent.models import ConsentEvent, SuppressionEntry
from tillit.marketing import selectors, services
from tillit.marketing.models import SendRecord
from tillit.people import services as people
from tillit.policy import purposes as purpose_rules

from .conftest import campaign_values

pytestmark = pytest.mark.django_db


@pytest.fixture
def caller(system_actor, now):
    return people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Per Ringer", "email": "per.ringer@example.com", "phone": "41234599"},
    )


def object_by_api(client, person_id, body=None, **query):
    url = f"/api/people/{person_id}/objection"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def test_sales_records_an_objection_during_a_call_and_it_holds_at_once(api_as, caller):
    sales = api_as("sales")
    assert selectors.callable_people("direct_marketing").filter(pk=caller.pk).exists()
    response = object_by_api(
        sales, caller.pk, {"contact_channel": "phone", "note": "Asked us to stop calling about offers."}
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["recorded"] is True
    assert answer["contact_channel"] == "phone"

    event = ConsentEvent.objects.get(person=caller, purpose="direct_marketing", action="objected")
    assert event.channel == consent_selectors.ALL_CHANNELS
    assert event.source_kind == "staff"
    assert event.source_ref.startswith("contact:phone; by api:"), "the channel and who took it"
    assert "Asked us to stop calling about offers." in event.wording, "the note"
    assert answer["objected_at"].startswith(event.occurred_at.isoformat()[:16])
    assert SuppressionEntry.objects.filter(reason="objection").count() == 2, "address and number"
    for purpose, channel in (("direct_marketing", "phone"), ("direct_marketing", "email"), ("newsletter", "email")):
        assert not consent_selectors.eligibility(person_id=caller.pk, purpose=purpose, channel=channel).allowed
    assert not selectors.callable_people("direct_marketing").filter(pk=caller.pk).exists(), "off the call list"
    audited = AuditEntry.objects.get(action="consent_objected", subject_id=caller.pk)
    assert audited.actor_role == "sales"
    assert audited.purpose == "direct_marketing"

    again = object_by_api(sales, caller.pk, {"contact_channel": "email"})
    assert again.status_code == 200
    assert again.json()["recorded"] is False
    assert ConsentEvent.objects.filter(person=caller, action="objected").count() == 1


@pytest.mark.parametrize("role", sorted(policy.current().roles))
def test_every_role_that_talks_to_people_may_take_it_and_no_other(role, api_as, caller):
    may = purpose_rules.may_take_objection(policy.current(), role)
    response = object_by_api(api_as(role), caller.pk, {"contact_channel": "in_person"})
    assert response.status_code == (200 if may else 403), response.content
    assert ConsentEvent.objects.filter(person=caller, action="objected").exists() is may


def test_customer_support_may_take_it_though_it_does_not_see_consents(api_as, caller):
    """Support keeps no consents (no ``choices`` category) but takes calls."""
    assert object_by_api(api_as("customer_support"), caller.pk).status_code == 200
    assert consent_selectors.consent_state(person_id=caller.pk)[("direct_marketing", "all")] == "objected"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"contact_channel": "fax"}, 422, "contact_channel"),
        ({"note": "Says he has diabetes, so no calls."}, 422, "note"),
        ({"note": "x" * 1001}, 422, "note"),
        ({"language": "de"}, 422, "language"),
        ({"source_kind": "staff"}, 422, "source_kind"),
    ],
)
def test_bad_input_is_named_and_nothing_is_recorded(api_as, caller, body, status, field):
    response = object_by_api(api_as("sales"), caller.pk, body)
    assert response.status_code == status, response.content
    assert response.json()["field"] == field
    assert not ConsentEvent.objects.filter(person=caller).exists()
    assert not SuppressionEntry.objects.exists()


def test_a_missing_person_is_404(api_as):
    assert object_by_api(api_as("sales"), 424242).status_code == 404


def test_pending_sends_of_a_campaign_in_progress_do_not_go_out(system_actor, now, subscribe, smtp_server, api_as):
    readers = [subscribe(f"reader{n}@example.com", phone=f"4123450{n}") for n in range(3)]
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    assert SendRecord.objects.filter(campaign=campaign, status="pending").count() == 3
    objector = readers[1]

    assert object_by_api(api_as("marketing"), objector.pk, {"contact_channel": "phone"}).status_code == 200

    result = services.send_next_batch(
        actor=system_actor, now=timezone.now(), campaign_id=campaign.pk, mail_connection=get_connection()
    )
    assert (result.sent, result.skipped) == (2, 1)
    assert objector.email not in {m.envelope_to[0] for m in smtp_server.messages}
    assert SendRecord.objects.get(campaign=campaign, person=objector).status == "skipped"
