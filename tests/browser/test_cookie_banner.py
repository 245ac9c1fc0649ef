"""The cookie banner in a real browser (policy §15): no non-essential cookie before a choice;
Accept sets the statistics cookie and counts the visit, Reject sets none; the footer link
re-opens it to withdraw, which clears the cookies; Global Privacy Control means nothing
optional. Everything under the strict CSP (no inline script or style)."""

from __future__ import annotations

import pytest

from tillit.capture.models import Visit
from tillit.consent.models import CookieChoice
from tillit.policy import cookies as rules

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

OPTIONAL = {rules.VISITOR_COOKIE, rules.FIELDS_COOKIE}


def cookie_names(page) -> set[str]:  # type: ignore[no-untyped-def]
    return {c["name"] for c in page.context.cookies()}


def open_privacy(page, live_server, lang: str = "en") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/privacy?lang={lang}")
    page.wait_for_selector("html[data-tillit-cookies=ready]", state="attached")


def test_nothing_optional_before_a_choice_and_reject_is_as_easy_as_accept(page, live_server, csp_errors):
    open_privacy(page, live_server)
    banner = page.get_by_test_id("cookie-banner")
    assert banner.is_visible()
    assert cookie_names(page) & OPTIONAL == set()
    assert rules.CONSENT_COOKIE not in cookie_names(page), "not even the choice cookie before a choice"
    accept = banner.get_by_role("button", name="Accept all")
    reject = banner.get_by_role("button", name="Reject all")
    style = "e => { const s = getComputedStyle(e); return [s.backgroundColor, s.color, s.fontSize, s.fontWeight]; }"
    assert accept.evaluate(style) == reject.evaluate(style), "the same prominence"
    assert abs(accept.bounding_box()["height"] - reject.bounding_box()["height"]) < 1
    assert Visit.objects.count() == 0


def test_accept_sets_the_statistics_cookie_and_counts_the_visit(page, live_server, csp_errors):
    open_privacy(page, live_server)
    with page.expect_response("**/visits") as answer:
        page.get_by_role("button", name="Accept all").click()
    assert answer.value.json() == {"recorded": True}
    names = cookie_names(page)
    assert {rules.CONSENT_COOKIE, rules.VISITOR_COOKIE} <= names
    assert page.get_by_test_id("cookie-banner").is_hidden()
    assert CookieChoice.objects.get().categories == ["functional", "statistics"]
    with page.expect_response("**/visits"):
        open_privacy(page, live_server)
    assert page.get_by_test_id("cookie-banner").is_hidden(), "a choice is remembered"
    assert Visit.objects.count() == 2
    assert Visit.objects.filter(path="/privacy").count() == 2


def test_reject_sets_no_optional_cookie_and_counts_nothing(page, live_server, csp_errors):
    open_privacy(page, live_server)
    with page.expect_response("**/cookies/choice"):
        page.get_by_role("button", name="Reject all").click()
    assert cookie_names(page) & OPTIONAL == set()
    assert rules.CONSENT_COOKIE in cookie_names(page), "the choice itself is remembered (necessary)"
    open_privacy(page, live_server)
    assert page.get_by_test_id("cookie-banner").is_hidden()
    assert cookie_names(page) & OPTIONAL == set()
    assert Visit.objects.count() == 0
    assert CookieChoice.objects.get().categories == []


def test_the_footer_link_reopens_the_banner_to_withdraw_and_the_cookies_are_cleared(page, live_server, csp_errors):
    open_privacy(page, live_server)
    with page.expect_response("**/visits"):
        page.get_by_role("button", name="Accept all").click()
    # A form's script remembered a field (functional cookie, readable by scripts).
    page.evaluate("document.cookie = 'tillit_fields=remembered; path=/; SameSite=Lax'")
    assert {rules.VISITOR_COOKIE, rules.FIELDS_COOKIE} <= cookie_names(page)

    page.get_by_role("link", name="Cookie settings").click()
    banner = page.get_by_test_id("cookie-banner")
    assert banner.is_visible()
    statistics = banner.get_by_role("checkbox", name="Statistics")
    assert statistics.is_checked(), "the settings show the choice in force"
    assert banner.get_by_role("checkbox", name="Necessary").is_disabled()
    statistics.uncheck()
    banner.get_by_role("checkbox", name="Functional").uncheck()
    with page.expect_response("**/cookies/choice"):
        banner.get_by_role("button", name="Save my choices").click()
    page.wait_for_function("() => !document.cookie.includes('tillit_fields')")
    assert cookie_names(page) & OPTIONAL == set()
    visits_before = Visit.objects.count()
    open_privacy(page, live_server)
    assert Visit.objects.count() == visits_before, "no more counting after the withdrawal"
    assert [c.categories for c in CookieChoice.objects.order_by("pk")] == [["functional", "statistics"], []]


@pytest.fixture
def gpc_page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="en-GB", extra_http_headers={"Sec-GPC": "1"})
    context.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_with_global_privacy_control_nothing_optional_is_set(gpc_page, live_server):
    open_privacy(gpc_page, live_server)
    assert gpc_page.get_by_test_id("cookie-banner").is_hidden(), "GPC already answered: no"
    assert cookie_names(gpc_page) & OPTIONAL == set()
    open_privacy(gpc_page, live_server)
    assert Visit.objects.count() == 0
    assert CookieChoice.objects.count() == 0
    gpc_page.get_by_role("link", name="Cookie settings").click()
    banner = gpc_page.get_by_test_id("cookie-banner")
    assert banner.locator("[data-note=gpc]").is_visible(), "the visitor is told we saw the signal"
    assert not banner.get_by_role("checkbox", name="Statistics").is_checked()


def test_the_banner_speaks_the_page_language(page, live_server):
    open_privacy(page, live_server, lang="nb")
    banner = page.get_by_test_id("cookie-banner")
    assert banner.get_attribute("lang") == "nb"
    banner.get_by_role("button").nth(2).click()
    assert banner.get_by_role("checkbox", name="Statistikk").is_visible()
    assert banner.get_by_role("checkbox", name="Nødvendige").is_checked()
