"""In a real browser: a cookie choice older than the policy's ``cookie_choice_months`` no
longer counts (policy §15, ``[consent_lifetime]``), so the banner opens by itself again and says
why; the new choice is remembered as before."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tillit.consent import cookies as cookie_consent
from tillit.consent.models import CookieBannerWording
from tillit.policy import cookies as rules
from tillit.policy.retention import subtract_months

from .test_cookie_banner import cookie_names, open_privacy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_the_banner_asks_again_after_the_choice_ran_out(page, live_server, csp_errors):
    open_privacy(page, live_server)  # the banner's wording is stored as it is shown
    banner = page.get_by_test_id("cookie-banner")
    assert banner.is_visible()
    # This browser accepted statistics six months ago (recorded then, as the service records it).
    browser_id = uuid.uuid4()
    cookie_consent.record_cookie_choice(
        now=subtract_months(dt.datetime.now(dt.UTC), 6),
        browser_id=browser_id,
        categories=["statistics"],
        wording=CookieBannerWording.objects.get(language="en").digest,
        language="en",
        gpc=False,
    )
    page.context.add_cookies([{"name": rules.CONSENT_COOKIE, "value": str(browser_id), "url": live_server.url}])
    open_privacy(page, live_server)
    assert banner.is_visible(), "the choice ran out: the banner asks again"
    assert banner.locator("[data-note=expired]").is_visible()
    assert banner.locator("[data-note=changed]").is_hidden()
    assert rules.VISITOR_COOKIE not in cookie_names(page)
    with page.expect_response("**/cookies/choice"):
        banner.get_by_role("button", name="Reject all").click()
    open_privacy(page, live_server)
    assert banner.is_hidden(), "the new choice is remembered"
