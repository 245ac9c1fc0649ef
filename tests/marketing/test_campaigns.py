"""Campaigns: the audience is only who the rule allows now, never anyone suppressed; every
message reaches a real SMTP server with the unsubscribe headers and links, the controller's
identity and its own Message-ID; a person who unsubscribes between batches gets nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.mail import get_connection

from tillit.consent import selectors as consent_selectors
from tillit.consent import services as consent_services
from tillit.consent.models import ConsentEvent
from tillit.core.errors import PermissionDeniedError, ValidationError
from tillit.marketing import selectors, services
from tillit.marketing.models import Campaign, SendRecord
from tillit.marketing.tasks import send_campaign
from tillit.people import services as people
from tillit.people.models import Person

from .conftest import body, campaign_values, links

pytestmark = pytest.mark.django_db


def send_all(campaign_id: int, batch_size: int = 100) -> dict[str, int]:
    return send_campaign.call(campaign_id, batch_size)


def test_every_message_carries_the_unsubscribe_headers_links_and_the_controller(
    system_actor, now, subscribe, smtp_server
):
    kari = subscribe("kari.testesen@example.com")
    ola = subscribe("ola.nordmann@example.com", language="nb", name="Åse Ødegård")
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    assert services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk) == 2
    assert send_all(campaign.pk) == {"sent": 2, "skipped": 0, "failed": 0}

    assert len(smtp_server.messages) == 2
    by_to = {m.envelope_to[0]: m for m in smtp_server.messages}
    english, norwegian = by_to[kari.email], by_to[ola.email]
    assert norwegian["To"].addresses[0].display_name == "Åse Ødegård"
    assert english["Subject"] == "News in November"
    assert norwegian["Subject"] == "Nytt i november"
    for message, person in ((english, kari), (norwegian, ola)):
        record = SendRecord.objects.get(campaign=campaign, person=person)
        assert message["Message-ID"] == record.message_id
        assert record.status == "sent"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = [part.strip().strip("<>") for part in message["List-Unsubscribe"].split(",")]
        assert https.startswith("https://tillit.example.com/unsubscribe/")
        assert mailto.startswith("mailto:post@avara.no?subject=unsubscribe%20")
        assert message["List-Id"] == "<monthly.lists.avara.no>"
        text, html = body(message), body(message, "html")
        assert https in links(text), "a visible unsubscribe link at the bottom"
        assert https in html
        assert "/consent/" in " ".join(links(text)), "a link to the person's choices"
        for fact in ("Avara AS", "Raveien 438", "3239 Sandefjord", "923130969", "post@avara.no", "+4770310086"):
            assert fact in text
            assert fact in html
        assert person.email not in https
    assert "Hello from <b>Avara</b>." in body(english, "html")
    assert "Hei fra Avara." in body(norwegian)
    assert Campaign.objects.get(pk=campaign.pk).status == "sent"
    # The fast path: each language rendered once, recipients put into the bytes.
    assert all(t._raw is not None for t in services.templates_for(campaign).values())


def test_the_audience_is_only_who_the_rule_allows_now_and_never_the_suppressed(
    system_actor, now, subscribe, smtp_server
):
    allowed = subscribe("allowed@example.com")
    suppressed = subscribe("bounced@example.com")
    objected = subscribe("objected@example.com")
    unsubscribed = subscribe("gone@example.com")
    people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "No list", "email": "nolist@example.com"}
    )
    consent_services.suppress(now=now, email=suppressed.email, phone=None, reason="bounce")
    consent_services.object_to_direct_marketing(
        actor=system_actor, now=now, person_id=objected.pk, source_kind="staff", language="en"
    )
    consent_services.end_subscription(
        actor=system_actor, now=now, person_id=unsubscribed.pk, newsletter="monthly", source_kind="staff", language="en"
    )
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    count = selectors.audience_count(actor=system_actor, campaign_id=campaign.pk)
    assert count.total == 1
    assert count.by_language == {"en": 1, "nb": 0}
    # The SQL and the rule agree on the suppressed person, who has nothing in the ledger.
    assert not consent_selectors.eligibility(person_id=suppressed.pk, purpose="newsletter", channel="email").allowed
    assert not consent_selectors.audience(purpose="newsletter", channel="email").filter(pk=suppressed.pk).exists()

    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    send_all(campaign.pk)
    assert [m.envelope_to for m in smtp_server.messages] == [[allowed.email]]


def test_someone_who_unsubscribes_between_batches_is_not_sent(system_actor, now, subscribe, smtp_server):
    people_ = [subscribe(f"reader{n}@example.com") for n in range(4)]
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    connection = get_connection()
    first = services.send_next_batch(
        actor=system_actor, now=now, campaign_id=campaign.pk, mail_connection=connection, batch_size=2
    )
    assert first.sent == 2
    # One of the two still waiting (the batches take send records in their order, not the people's).
    waiting = set(
        SendRecord.objects.filter(campaign_id=campaign.pk, status=SendRecord.Status.PENDING).values_list(
            "person_id", flat=True
        )
    )
    late = next(p for p in people_ if p.pk in waiting)
    services.unsubscribe(
        actor=system_actor,
        now=now,
        person_id=late.pk,
        newsletter="monthly",
        purpose=None,
        source_kind="email_link",
        language="en",
    )
    second = services.send_next_batch(
        actor=system_actor, now=now, campaign_id=campaign.pk, mail_connection=connection, batch_size=2
    )
    assert (second.sent, second.skipped) == (1, 1)
    assert late.email not in {m.envelope_to[0] for m in smtp_server.messages}
    assert SendRecord.objects.get(campaign=campaign, person=late).status == "skipped"
    assert services.send_next_batch(
        actor=system_actor, now=now, campaign_id=campaign.pk, mail_connection=connection, batch_size=2
    ).finished
    assert Campaign.objects.get(pk=campaign.pk).status == "sent"


def test_our_own_sends_do_not_move_the_retention_clock_but_a_reply_does(system_actor, now, subscribe, smtp_server):
    kari = subscribe("kari.testesen@example.com")
    Person.objects.filter(pk=kari.pk).update(last_contact_at=now - dt.timedelta(days=100))
    before = Person.objects.values("last_contact_at", "retain_until", "retain_reason").get(pk=kari.pk)
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    send_all(campaign.pk)
    assert len(smtp_server.messages) == 1
    assert Person.objects.values("last_contact_at", "retain_until", "retain_reason").get(pk=kari.pk) == before
    reply = (
        b"From: Kari Testesen <kari.testesen@example.com>\r\nTo: post@avara.no\r\nSubject: Re: News in November\r\n"
        b"Date: Tue, 24 Nov 2026 13:00:00 +0100\r\nMessage-ID: <reply1@example.com>\r\n\r\nThanks, call me.\r\n"
    )
    people.record_email_message(actor=system_actor, now=now, raw=reply)
    assert Person.objects.get(pk=kari.pk).last_contact_at > before["last_contact_at"]


def test_a_campaign_to_an_empty_or_unknown_list_is_refused_with_a_message(system_actor, now, newsletter):
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    with pytest.raises(ValidationError, match="nobody to send to: the newsletter has no subscriber"):
        services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"
    assert not SendRecord.objects.exists()
    with pytest.raises(ValidationError, match="there is no newsletter with this key") as caught:
        services.create_campaign(actor=system_actor, now=now, values=campaign_values(newsletter="weekly"))
    assert caught.value.field == "newsletter"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subjects", {"en": "Hello\r\nBcc: everyone@example.com"}),
        ("subjects", {"en": "Hello\nX-Injected: yes"}),
        ("name", "November\r\nnews"),
    ],
)
def test_header_injection_in_subjects_and_names_is_rejected(system_actor, now, newsletter, field, value):
    with pytest.raises(ValidationError, match="one line") as caught:
        services.create_campaign(actor=system_actor, now=now, values=campaign_values(**{field: value}))
    assert caught.value.field.startswith(field.rstrip("s"))
    assert not Campaign.objects.exists()


def test_header_injection_in_a_newsletter_name_or_a_subscriber_name_is_rejected(system_actor, now, newsletter):
    with pytest.raises(ValidationError, match="one line"):
        services.create_newsletter(
            actor=system_actor, now=now, key="weekly", name={"en": "Weekly\r\nBcc: x@example.com"}, description={}
        )
    with pytest.raises(ValidationError, match="one line"):
        services.request_subscription(
            actor=system_actor,
            now=now,
            email="kari.testesen@example.com",
            name="Kari\r\nBcc: x@example.com",
            newsletter="monthly",
            language="en",
            source_kind="form",
            wording="Yes",
        )


def test_only_the_marketing_role_writes_lists_and_campaigns(staff_actor, now, newsletter):
    for role in ("sales", "customer_support", "privacy_officer", "administrator"):
        with pytest.raises(PermissionDeniedError):
            services.create_campaign(actor=staff_actor(role), now=now, values=campaign_values())
    assert services.create_campaign(actor=staff_actor("marketing"), now=now, values=campaign_values()).pk


def test_a_direct_marketing_segment_reaches_consenting_and_existing_customers_only(system_actor, now, smtp_server):
    consenting = people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "A", "email": "a@example.com"}
    )
    consent_services.record_consent(
        actor=system_actor,
        now=now,
        person_id=consenting.pk,
        purpose="direct_marketing",
        channel="email",
        source_kind="form",
        wording="Yes, tell me about your products.",
        language="en",
    )
    people.create_person(actor=system_actor, now=now, source="form", values={"name": "B", "email": "b@example.com"})
    people.create_person(  # a company's role address: legitimate interest, until it objects
        actor=system_actor, now=now, source="form", values={"name": "C", "email": "post@company.example"}
    )
    campaign = services.create_campaign(
        actor=system_actor, now=now, values=campaign_values(newsletter="", purpose="direct_marketing")
    )
    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    send_all(campaign.pk)
    assert sorted(m.envelope_to[0] for m in smtp_server.messages) == ["a@example.com", "post@company.example"]
    assert "List-Id" not in smtp_server.messages[0]
    # Every send records the rule that allowed it (accountability, GDPR art. 5(2)).
    sent = dict(SendRecord.objects.filter(campaign=campaign, status="sent").values_list("person__email", "basis"))
    assert sent == {"a@example.com": "consent", "post@company.example": "role_address"}
    assert ConsentEvent.objects.filter(person=consenting).count() == 1


# --- issue 15 item 5: the existing-customer exception works outside the tests -------------------

OPT_OUT = "We may email you about similar products. Tick here to say no; every email has an unsubscribe link."


def _customer(client, actor, now, email: str, number: str, product: str, opt_out: dict | None) -> Person:  # type: ignore[no-untyped-def,type-arg]
    person = people.create_person(
        actor=actor, now=now, source="order", values={"name": f"Customer {number}", "email": email}
    )
    payload = {
        "number": number,
        "currency": "NOK",
        "lines": [{"product": product, "quantity": "1", "unit_price": "990.00"}],
    }
    if opt_out is not None:
        payload["opt_out"] = opt_out
    response = client.post(f"/api/people/{person.pk}/orders", payload, content_type="application/json")
    assert response.status_code == 201, response.content
    return person


def test_an_order_records_the_opt_out_offered_and_a_campaign_reaches_buyers_of_similar_products_only(
    api_as, system_actor, now, smtp_server
):
    from tillit.people.models import Purchase

    sales = api_as("sales")
    offered = {"wording": OPT_OUT, "language": "en"}
    cloud = _customer(sales, system_actor, now, "cloud@example.com", "10042", "Avara Cloud", offered)
    _customer(sales, system_actor, now, "payroll@example.com", "10043", "Avara Payroll", offered)
    _customer(sales, system_actor, now, "no-offer@example.com", "10044", "Avara Cloud", None)
    _customer(sales, system_actor, now, "said-no@example.com", "10045", "avara backup", {**offered, "refused": True})
    later = _customer(sales, system_actor, now, "later-no@example.com", "10046", "Avara Secure", offered)
    consent_services.opt_out(
        actor=system_actor,
        now=now,
        person_id=later.pk,
        purpose="direct_marketing",
        channel="email",
        source_kind="page",
        language="en",
    )
    fact = Purchase.objects.get(order_number="10042")
    assert (fact.product, fact.opt_out_wording, fact.opt_out_language) == ("cloud", OPT_OUT, "en")
    marketing = api_as("marketing")
    url = f"/api/people/{cloud.pk}/eligibility?purpose=direct_marketing&channel=email&products="
    similar = marketing.get(url + "backup").json()
    assert (similar["allowed"], similar["reason"], similar["order"]) == (True, "existing_customer", "10042")
    assert marketing.get(url + "payroll").json()["allowed"] is False
    unknown = marketing.get(url + "hoverboards")
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "products"

    campaign = services.create_campaign(
        actor=system_actor,
        now=now,
        values={**campaign_values(newsletter="", purpose="direct_marketing"), "products": ["backup"]},
    )
    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    send_all(campaign.pk)
    assert [m.envelope_to[0] for m in smtp_server.messages] == ["cloud@example.com"], (
        "similar product only; never without the opt-out offered, after refusing at the order, or after a refusal"
    )
    [basis] = SendRecord.objects.filter(campaign=campaign, status="sent").values_list("basis", flat=True)
    assert basis == "existing_customer:order=10042", "the recorded basis names the exception and the order"


def test_a_campaign_names_only_products_of_the_policy(system_actor, now, api_as):
    with pytest.raises(ValidationError) as caught:
        services.create_campaign(
            actor=system_actor,
            now=now,
            values={**campaign_values(newsletter="", purpose="direct_marketing"), "products": ["hoverboards"]},
        )
    assert caught.value.field == "products"
    person = people.create_person(
        actor=system_actor, now=now, source="order", values={"name": "X", "email": "x@example.com"}
    )
    bad = api_as("sales").post(
        f"/api/people/{person.pk}/orders",
        {
            "number": "1",
            "currency": "NOK",
            "lines": [{"product": "Avara Cloud", "quantity": "1", "unit_price": "1"}],
            "opt_out": {"wording": " "},
        },
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "opt_out.wording"
