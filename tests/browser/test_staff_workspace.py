"""In a real browser: sign in with a TOTP code, search, open a person, log a call, and see a
role refused what the policy does not give it."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.people import services as people

from .conftest import PASSWORD, current_code, sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def kari(system_actor, now):
    org = people.create_organization(actor=system_actor, now=now, source="form", values={"name": "Fjordlys Demo AS"})
    return people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={
            "name": "Kari <b>Nordmann</b>",
            "email": "kari@example.com",
            "phone": "41234567",
            "organization_id": org.pk,
        },
    )


def test_support_signs_in_finds_a_person_and_logs_a_call(page, live_server, make_staff, kari, csp_errors):
    user = make_staff("customer_support")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    sign_in(page, live_server, user.username, device)

    page.get_by_role("link", name="People").first.click()
    page.get_by_role("searchbox").fill("kari@example")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Kari <b>Nordmann</b>").click()
    assert page.locator("h1").inner_text() == "Kari <b>Nordmann</b>", "markup in a name is shown as text"
    assert "2 years after registration" in page.get_by_test_id("retention").inner_text()

    page.get_by_label("What").select_option("call")
    page.get_by_label("Who started it").select_option("inbound")
    page.get_by_label("Summary").fill("Asked for an offer <script>alert(1)</script>")
    page.get_by_role("button", name="Log it").click()
    assert "Logged on the timeline." in page.content()
    timeline = page.get_by_test_id("timeline").inner_text()
    assert "call (inbound)" in timeline
    assert "<script>alert(1)</script>" in timeline, "shown as text, never run"
    assert "2 years after the last contact" in page.get_by_test_id("retention").inner_text()


def test_first_sign_in_shows_a_qr_code_and_enrols(page, live_server, make_staff, csp_errors):
    user = make_staff("sales")
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/enrol/**")
    assert page.locator(".qr svg").count() == 1
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    page.get_by_label("Code from your authenticator app").fill(current_code(device))
    page.get_by_role("button", name="Confirm and sign in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert "Welcome" in page.locator("h1").first.inner_text()


def test_marketing_is_refused_the_timeline_and_the_staff_pages(page, live_server, make_staff, kari):
    user = make_staff("marketing")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    sign_in(page, live_server, user.username, device)
    page.goto(f"{live_server.url}/people/{kari.pk}/")
    assert page.get_by_test_id("timeline").count() == 0, "marketing sees no correspondence (§10)"
    response = page.goto(f"{live_server.url}/staff/")
    assert response.status == 403
    assert "may not manage staff accounts" in page.content()
