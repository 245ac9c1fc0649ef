"""In a real browser: the staff search finds a person as one types (htmx) and pages through the
results, and no request the browser makes carries the search term in its URL."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.people import services as people

from .conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_the_live_search_posts_the_term(page, live_server, make_staff, system_actor, now, csp_errors):
    people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Sigrid Sökbar", "email": "sigrid.sokbar@example.com"},
    )
    for n in range(30):
        people.create_person(actor=system_actor, now=now, source="form", values={"name": f"Fyll Person {n}"})
    user = make_staff("customer_support")
    sign_in(page, live_server, user.username, TOTPDevice.objects.create(user=user, name="phone", confirmed=True))
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))

    page.get_by_role("link", name="People").first.click()
    page.get_by_role("searchbox").fill("sigrid.sokbar@example")  # no click: the live search
    page.locator("#results").get_by_role("link", name="Sigrid Sökbar").wait_for()
    assert page.locator("#results tbody tr").count() == 1

    page.get_by_role("searchbox").fill("Fyll")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name="Next").click()
    assert "Page 2" in page.locator(".pager").inner_text()
    assert page.locator("#results tbody tr").count() == 5, "the second page of the 30 found"

    assert urls
    assert not [url for url in urls if "sokbar" in url.lower() or "fyll" in url.lower()]
