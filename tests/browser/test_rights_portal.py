"""The rights portal in a real browser, as a data subject uses it (policy §13): ask for your
data without logging in, open the link from the email, confirm, open the answer as a web page,
and erase yourself; every page under the strict CSP."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings as django_settings

from tillit.people import services as people
from tillit.people.models import Person
from tillit.rights.models import DataSubjectRequest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture(autouse=True)
def _immediate_tasks(immediate_tasks):  # type: ignore[no-untyped-def]
    pass


@pytest.fixture
def ingrid(system_actor, now):  # type: ignore[no-untyped-def]
    person = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Ingrid Innsynsen", "email": "ingrid@example.com", "phone": "41234567", "language": "sv"},
    )
    people.create_person(  # same name, someone else: never in Ingrid's answer
        actor=system_actor, now=now, source="form", values={"name": "Ingrid Innsynsen", "email": "other@example.com"}
    )
    return person


def link_in(message, live_server) -> str:  # type: ignore[no-untyped-def]
    found = re.search(rf"{re.escape(django_settings.TILLIT_PUBLIC_URL)}(/rights/\S+)", message.get_content())
    assert found, message.get_content()
    return f"{live_server.url}{found.group(1)}"


def ask(page, live_server, kind_label: str, lang: str = "en") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/rights?lang={lang}")
    page.wait_for_selector("html[data-tillit-cookies=ready]", state="attached")
    if page.get_by_test_id("cookie-banner").is_visible():  # the first visit: the banner asks first
        page.get_by_test_id("cookie-banner").get_by_role("button", name="Reject all").click()
    page.locator("#email").fill("ingrid@example.com")
    page.get_by_label(kind_label).check()
    page.get_by_role("button", name="Send the request").click()
    assert page.get_by_test_id("sent").count() == 1


def test_a_person_asks_for_their_data_and_reads_the_answer(page, live_server, ingrid, smtp_server, csp_errors):
    page.goto(f"{live_server.url}/rights?lang=sv")
    assert page.locator("h1").inner_text() == "Dina rättigheter enligt dataskyddsförordningen"
    ask(page, live_server, "See the data we hold about you (access)")

    [verification] = smtp_server.messages
    assert verification["To"] == "ingrid@example.com"
    page.goto(link_in(verification, live_server))
    assert DataSubjectRequest.objects.get().status == "awaiting_verification", "opening the link changes nothing"
    page.get_by_test_id("confirm").click()
    assert page.get_by_test_id("download-sent").count() == 1

    answer = smtp_server.messages[-1]
    assert "Ingrid Innsynsen" not in answer.get_content(), "the data is behind the link, not in the email"
    page.goto(link_in(answer, live_server))
    formats = page.get_by_test_id("formats")
    assert formats.get_by_role("link").count() == 3  # web page, PDF, JSON
    formats.get_by_role("link").first.click()
    text = page.locator("body").inner_text()
    assert page.locator(".access th").first.evaluate("e => getComputedStyle(e).textAlign") == "left", (
        "the answer's own stylesheet applies (allowed by its hash, nothing else inline)"
    )
    assert "ingrid@example.com" in text
    assert "+4741234567" in text
    assert "other@example.com" not in text, "never another person's data, even with the same name"
    assert "Datatilsynet" in text, "how to complain to the supervisory authority"

    json_url = page.url.replace("/html", "/json")
    response = page.request.get(json_url)
    assert response.status == 200
    body = json.loads(response.text())
    values = [f.get("value") for t in body["personal_data"] for row in t["rows"] for f in row["fields"]]
    assert "ingrid@example.com" in values
    assert "other@example.com" not in values


def test_a_person_erases_themselves_through_the_portal(page, live_server, ingrid, smtp_server, csp_errors):
    ask(page, live_server, "Delete your data (erasure)")
    page.goto(link_in(smtp_server.messages[0], live_server))
    page.get_by_test_id("confirm").click()
    assert page.get_by_test_id("erased").count() == 1
    assert not Person.objects.filter(pk=ingrid.pk).exists()
    assert Person.objects.filter(email="other@example.com").exists()
    page.reload()  # the link works once
    assert page.get_by_test_id("bad-link").inner_text() == "This link has already been used"


def test_a_person_restricts_the_processing_of_their_data(page, live_server, ingrid, smtp_server, csp_errors):
    from tillit.people.restrictions import restriction_in_force

    page.goto(f"{live_server.url}/rights?lang=sv")
    page.wait_for_selector("html[data-tillit-cookies=ready]", state="attached")
    if page.get_by_test_id("cookie-banner").is_visible():
        page.get_by_test_id("cookie-banner").get_by_role("button", name="Avvisa alla").click()
    page.locator("#email").fill("ingrid@example.com")
    page.get_by_label("Spara dina uppgifter men sluta använda dem tills vidare (begränsning)").check()
    page.get_by_role("button", name="Skicka begäran").click()
    assert page.get_by_test_id("error").inner_text() == "Välj varför vi ska sluta använda dina uppgifter."
    assert page.locator("#restriction_grounds").get_attribute("aria-invalid") == "true"
    page.locator("#restriction_grounds").select_option("legal_claims")
    page.get_by_role("button", name="Skicka begäran").click()
    assert page.get_by_test_id("sent").count() == 1
    assert restriction_in_force(person_id=ingrid.pk) is None, "not before the person confirms"

    page.goto(link_in(smtp_server.messages[-1], live_server))
    page.get_by_test_id("confirm").click()

    assert (
        "Behandlingen av dina uppgifter är begränsad (GDPR art. 18(1)(c))"
        in page.get_by_test_id("restricted").inner_text()
    )
    assert restriction_in_force(person_id=ingrid.pk).grounds == "legal_claims"
    assert "begränsad" in smtp_server.messages[-1].get_content(), "the answer by email too, in Swedish"
    assert csp_errors == []
