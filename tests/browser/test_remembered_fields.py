"""The functional cookie the policy promises (§15: "so you don't have to fill in the same fields
again"), in a real browser under the strict CSP: once the visitor accepted the functional
choice, a form pre-fills the fields they gave before; never without that acceptance, never on
a shared link, never a consent box; withdrawing the choice forgets the fields. The values stay
in the visitor's own browser: nothing about them is stored on our server for it."""

from __future__ import annotations

import pytest

from tillit.capture import services
from tillit.core.actors import Actor
from tillit.policy import cookies as rules

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def form(now):  # type: ignore[no-untyped-def]
    return services.create_form(
        actor=Actor.system("tests"),
        now=now,
        name="Contact us",
        language="en",
        fields=[{"name": "name"}, {"name": "email"}, {"name": "phone"}, {"name": "message"}],
        consents=[{"purpose": "newsletter", "channel": "email"}],
    )


def open_form(page, live_server, form, query: str = "") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/forms/{form.public_id}/{query}")
    page.wait_for_selector("html[data-tillit-cookies=ready]", state="attached")


def value(page, name: str) -> str:  # type: ignore[no-untyped-def]
    return page.locator(f"[data-testid=capture-form] [name={name}]").input_value()


def submit(page, form, *, name: str, email: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("input[name=name]").fill(name)
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=phone]").fill("+4791234567")
    page.locator("textarea[name=message]").fill("Please call me about fibre.")
    page.get_by_label(form.consents[0]["wording"]).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Send").click()


def stored(page) -> str | None:  # type: ignore[no-untyped-def]
    return page.evaluate(f"() => window.localStorage.getItem('{rules.FIELDS_COOKIE}')")


def test_accepted_the_returning_visitor_finds_the_fields_filled_in_and_withdrawal_forgets_them(
    page, live_server, form, csp_errors
):  # type: ignore[no-untyped-def]
    open_form(page, live_server, form)
    with page.expect_response("**/cookies/choice"):
        page.get_by_test_id("cookie-banner").get_by_role("button", name="Accept all").click()
    submit(page, form, name="Kari Nordmann", email="kari@example.com")

    open_form(page, live_server, form)
    page.wait_for_selector("form[data-tillit-remembered]", state="attached")
    assert value(page, "name") == "Kari Nordmann"
    assert value(page, "email") == "kari@example.com"
    assert value(page, "phone") == "+4791234567"
    assert value(page, "message") == "", "answers to questions are never remembered"
    assert not page.get_by_label(form.consents[0]["wording"]).is_checked(), "a consent is never pre-ticked"
    assert "kari@example.com" not in str(page.context.cookies()), "the values never travel to the server"

    # A shared link (anything but ?lang= in the address) is never pre-filled.
    open_form(page, live_server, form, "?utm_source=colleague")
    assert value(page, "name") == ""
    assert value(page, "email") == ""

    # Withdrawing the functional choice forgets the fields.
    open_form(page, live_server, form)
    page.get_by_role("link", name="Cookie settings").click()
    banner = page.get_by_test_id("cookie-banner")
    banner.get_by_role("checkbox", name="Functional").uncheck()
    with page.expect_response("**/cookies/choice"):
        banner.get_by_role("button", name="Save my choices").click()
    page.wait_for_function(f"() => window.localStorage.getItem('{rules.FIELDS_COOKIE}') === null")
    open_form(page, live_server, form)
    assert value(page, "name") == ""
    assert value(page, "email") == ""
    assert stored(page) is None


def test_without_accepting_the_functional_choice_nothing_is_remembered(page, live_server, form, csp_errors):  # type: ignore[no-untyped-def]
    open_form(page, live_server, form)
    banner = page.get_by_test_id("cookie-banner")
    banner.locator("[data-action=settings]").click()
    banner.get_by_role("checkbox", name="Statistics").check()
    with page.expect_response("**/cookies/choice"):
        banner.get_by_role("button", name="Save my choices").click()
    submit(page, form, name="Per Hansen", email="per@example.com")
    assert stored(page) is None

    open_form(page, live_server, form)
    assert value(page, "name") == ""
    assert value(page, "email") == ""


def test_a_page_that_never_got_a_choice_is_not_pre_filled(page, live_server, form, csp_errors):  # type: ignore[no-untyped-def]
    # Values left in the browser by someone else's script, without any choice made here.
    open_form(page, live_server, form)
    page.evaluate(
        f"() => window.localStorage.setItem('{rules.FIELDS_COOKIE}',"
        " JSON.stringify({saved_at: Date.now(), fields: {name: 'Planted', email: 'planted@example.com'}}))"
    )
    open_form(page, live_server, form)
    assert value(page, "name") == ""
    assert page.get_by_test_id("cookie-banner").is_visible()
