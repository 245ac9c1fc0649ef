"""Issue 15, item 6: a removed person does not come back silently. Registering (UI, API) or
importing someone whose address or number is on the suppression list works, but staff are
told ("this person asked to be removed on <date>; marketing to them is blocked", translated),
the suppression is kept, and the event is audited."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tillit.audit.models import AuditEntry
from tillit.consent import selectors as consent_selectors
from tillit.consent.models import SuppressionEntry
from tillit.people import selectors, services
from tillit.people.models import Person
from tillit.retention.services import erase_person

pytestmark = pytest.mark.django_db

EMAIL = "gone.again@example.com"


@pytest.fixture
def removed(system_actor, now):
    """Someone who objected and was erased a while ago: only keyed hashes remain."""
    earlier = now - dt.timedelta(days=40)
    person = services.create_person(
        actor=system_actor,
        now=earlier,
        source="form",
        values={"name": "Gone Again", "email": EMAIL, "phone": "41230000"},
    )
    erase_person(actor=system_actor, now=earlier, person_id=person.pk, reason="objection")
    assert not Person.objects.exists()
    assert SuppressionEntry.objects.count() == 2
    return earlier


def post_person(client, body, **headers):
    return client.post("/api/people", json.dumps(body), content_type="application/json", **headers)


def test_the_api_registers_them_again_with_a_flag_and_the_suppression_kept(api_as, removed):
    response = post_person(api_as("sales"), {"name": "Gone Again", "email": EMAIL})
    assert response.status_code == 201, response.content
    answer = response.json()
    flag = answer["marketing_blocked"]
    assert flag["reason"] == "objection"
    assert flag["since"].startswith(removed.date().isoformat())
    assert flag["message"] == (
        f"This person asked to be removed on {removed.date().isoformat()}; marketing to them is blocked."
    )
    assert SuppressionEntry.objects.count() == 2, "the suppression is kept"
    for purpose, channel in (("direct_marketing", "email"), ("direct_marketing", "phone"), ("newsletter", "email")):
        assert not consent_selectors.eligibility(person_id=answer["id"], purpose=purpose, channel=channel).allowed
    audited = AuditEntry.objects.get(action="create_suppressed", subject_id=answer["id"])
    assert audited.fields == ["email"]
    assert audited.actor_role == "sales"


def test_a_number_alone_is_recognised_too(api_as, removed):
    answer = post_person(api_as("customer_support"), {"name": "G. Again", "phone": "+47 412 30 000"}).json()
    assert answer["marketing_blocked"]["reason"] == "objection"
    assert AuditEntry.objects.get(action="create_suppressed", subject_id=answer["id"]).fields == ["phone"]


@pytest.mark.parametrize(("language", "words"), [("nb", "ba om å bli slettet"), ("sv", "bad om att bli borttagen")])
def test_the_message_is_translated(api_as, removed, language, words):
    answer = post_person(api_as("sales"), {"name": "Gone Again", "email": EMAIL}, HTTP_ACCEPT_LANGUAGE=language).json()
    assert words in answer["marketing_blocked"]["message"]
    assert removed.date().isoformat() in answer["marketing_blocked"]["message"]


def test_the_staff_ui_warns_when_registering_them(staff_client, removed):
    client = staff_client("customer_support")
    response = client.post("/people/new/", {"name": "Gone Again", "email": EMAIL}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    warning = f"This person asked to be removed on {removed.date().isoformat()}; marketing to them is blocked."
    assert page.count(warning) == 2, "once as the warning of the moment, once on the person page"
    assert 'data-testid="marketing-blocked"' in page


def test_an_import_through_a_form_is_audited_and_flagged(system_actor, staff_actor, now, removed):
    result = services.upsert_person(actor=system_actor, now=now, source="form", values={"name": "Gone", "email": EMAIL})
    assert result.created
    assert AuditEntry.objects.filter(action="create_suppressed", subject_id=result.person.pk).exists()
    seen = selectors.get_person(actor=staff_actor("sales"), now=now, person_id=result.person.pk)
    assert seen["marketing_blocked"]["reason"] == "objection"


def test_someone_never_removed_is_registered_without_a_flag(api_as, removed):
    answer = post_person(api_as("sales"), {"name": "New Person", "email": "new.person@example.com"}).json()
    assert answer.get("marketing_blocked") is None
    assert not AuditEntry.objects.filter(action="create_suppressed").exists()
