"""Issue 15, item 2, in a real browser: a sales rep on the phone opens the person, records
that they object to direct marketing, and sees at once that marketing to them is blocked."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.consent import selectors as consent_selectors
from tillit.marketing import selectors as marketing_selectors
from tillit.people import services as people

from .conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def caller(system_actor, now):
    return people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Per Ringer", "email": "per.ringer@example.com", "phone": "41234599"},
    )


def test_sales_records_an_objection_during_the_call_and_sees_it(page, live_server, make_staff, caller, csp_errors):
    user = make_staff("sales")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    sign_in(page, live_server, user.username, device)

    page.get_by_role("link", name="People").first.click()
    page.get_by_role("searchbox").fill("per.ringer@example")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Per Ringer").click()
    assert page.get_by_test_id("marketing-blocked").count() == 0

    objection = page.get_by_test_id("objection")
    objection.get_by_label("How the person told you").select_option("phone")
    objection.get_by_label("Note (optional)").fill("Does not want offers by phone or email.")
    objection.get_by_role("button", name="Record: objects to direct marketing").click()

    assert "The objection is recorded" in page.content()
    blocked = page.get_by_test_id("marketing-blocked").inner_text()
    assert "objected to direct marketing on" in blocked
    assert "marketing to them is blocked" in blocked
    assert page.get_by_test_id("objection").count() == 0, "nothing left to record"
    assert consent_selectors.consent_state(person_id=caller.pk)[("direct_marketing", "all")] == "objected"
    assert not marketing_selectors.callable_people("direct_marketing").filter(pk=caller.pk).exists()
