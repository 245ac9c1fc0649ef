"""The marketing pages of the staff UI: a newsletter, a campaign written per language with its
preview and audience count, sending it, and the progress box htmx polls."""

from __future__ import annotations

import pytest

from tillit.marketing.models import Campaign, NewsletterList, SendRecord

pytestmark = pytest.mark.django_db


def test_marketing_writes_a_newsletter_and_a_campaign_previews_it_and_sends_it(
    staff_client, subscribe, django_capture_on_commit_callbacks
):
    client = staff_client("marketing")
    subscribe("kari.testesen@example.com", language="nb")
    page = client.post(
        "/newsletters/",
        {
            "key": "events",
            "purpose": "newsletter",
            "name_en": "Events",
            "name_sv": "Evenemang",
            "name_nb": "Arrangementer",
        },
    )
    assert page.status_code == 302
    assert NewsletterList.objects.get(key="events").name["sv"] == "Evenemang"
    bad = client.post("/newsletters/", {"key": "x y", "name_en": "Bad"})
    assert bad.status_code == 422

    refused = client.post(
        "/campaigns/new/",
        {"name": "Nov", "newsletter": "monthly", "subject_en": "Hi\r\nBcc: x@example.com", "text_en": "Hello"},
    )
    assert refused.status_code == 422
    assert "one line" in refused.content.decode()
    created = client.post(
        "/campaigns/new/",
        {
            "name": "Nov",
            "newsletter": "monthly",
            "subject_en": "News",
            "text_en": "Hello",
            "subject_nb": "Nytt",
            "text_nb": "Hei",
        },
    )
    assert created.status_code == 302
    campaign = Campaign.objects.get()
    detail = client.get(created["Location"])
    text = detail.content.decode()
    for words in ('data-testid="audience"', "1 person may receive it", "List-Unsubscribe-Post", "Nytt", "Avara AS"):
        assert words in text
    with django_capture_on_commit_callbacks(execute=False):
        sent = client.post(f"/campaigns/{campaign.pk}/send/")
    assert sent.status_code == 302
    assert SendRecord.objects.filter(campaign=campaign).count() == 1
    progress = client.get(f"/campaigns/{campaign.pk}/progress/")
    assert progress.status_code == 200
    assert 'hx-trigger="every 2s"' in progress.content.decode()
    assert client.post(f"/campaigns/{campaign.pk}/send/").status_code == 409
