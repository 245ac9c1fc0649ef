"""Marketing in a real browser, under the strict CSP: a marketer writes a campaign, sees who may
receive it, sends it and watches the progress box update itself (htmx) while a worker sends;
the recipient opens the unsubscribe link from the email, which changes nothing until they
press the button, and then stops the newsletter."""

from __future__ import annotations

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.consent import services as consent_services
from tillit.consent.models import Subscription
from tillit.marketing import services
from tillit.marketing import tasks as marketing_tasks
from tillit.marketing.models import Campaign
from tillit.people import services as people

from .conftest import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def subscriber(system_actor, now, live_server, settings):  # type: ignore[no-untyped-def]
    settings.TILLIT_PUBLIC_URL = live_server.url  # the links in the email lead to this server
    services.create_newsletter(
        actor=system_actor,
        now=now,
        key="monthly",
        name={"en": "Monthly news", "sv": "Månadsnytt", "nb": "Månedsnytt"},
        description={"en": "News once a month."},
    )
    person = people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Kari Testesen", "email": "kari@example.com"}
    )
    consent_services.open_subscription(
        actor=system_actor,
        now=now,
        person_id=person.pk,
        newsletter="monthly",
        source_kind="double_opt_in",
        wording="Yes, send me Monthly news.",
        language="en",
    )
    return person


def test_a_campaign_is_written_sent_watched_and_unsubscribed_from(
    page, live_server, make_staff, subscriber, smtp_server, csp_errors
):
    user = make_staff("marketing")
    sign_in(page, live_server, user.username, TOTPDevice.objects.create(user=user, name="phone", confirmed=True))

    page.goto(f"{live_server.url}/campaigns/new/")
    page.get_by_label("Name (for us)").fill("November news")
    page.get_by_label("Newsletter").select_option("monthly")
    english = page.locator("fieldset", has=page.locator("legend", has_text="en"))
    english.get_by_label("Subject (one line)").fill("News from Avara")
    english.get_by_label("Text").fill("Hello! Here is what happened this month.")
    page.get_by_role("button", name="Save draft").first.click()
    assert "1 person may receive it if sent now." in page.get_by_test_id("audience").inner_text()

    page.get_by_test_id("send").click()
    progress = page.get_by_test_id("progress")
    assert progress.get_by_test_id("sent").inner_text() == "0"
    campaign = Campaign.objects.get()
    marketing_tasks.send_campaign.call(campaign.pk)  # the worker, while the page is open
    # No reload: the progress box polls and swaps itself in (htmx, allowed by the CSP).
    page.get_by_test_id("sent").filter(has_text="1").wait_for(timeout=10_000)
    assert "Sent" in page.get_by_test_id("progress").inner_text()

    [message] = smtp_server.messages
    assert message["Subject"] == "News from Avara"
    unsubscribe = re.search(r"<(https?://[^>]+/unsubscribe/[^>]+)>", message["List-Unsubscribe"])
    assert unsubscribe, message["List-Unsubscribe"]
    page.goto(unsubscribe.group(1))  # what a link scanner in a mail filter would do, too
    assert Subscription.objects.get(person=subscriber).unsubscribed_at is None, "a GET changes nothing"
    page.get_by_test_id("unsubscribe").click()
    page.wait_for_load_state()
    assert Subscription.objects.get(person=subscriber).unsubscribed_at is not None
