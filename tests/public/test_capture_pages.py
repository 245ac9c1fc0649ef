"""The public capture endpoints as a website and a browser use them: the form page and its
plain HTML post, the JSON endpoint, the embed script, tracked downloads and the chat webhook."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from tillit.capture import chat, services
from tillit.capture.models import FormSubmission, Material
from tillit.consent.models import ConsentEvent
from tillit.people.models import Interaction, Person, QuarantinedText

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def form(system_actor, now):
    return services.create_form(
        actor=system_actor,
        now=now,
        name="Kontakt oss",
        language="nb",
        fields=[{"name": "name"}, {"name": "email"}, {"name": "phone"}, {"name": "question"}],
        consents=[{"purpose": "newsletter", "channel": "email"}],
    )


def post_json(client: Client, url: str, body: object, **extra: str):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


@pytest.fixture(params=["inline", "queued"])
def intake(request, settings):
    """Both ways of taking a submission (``TILLIT_FORM_INTAKE``); ``settle()`` applies what is
    queued, as ``tillit capture drain`` would (nothing to do inline)."""
    import time

    settings.TILLIT_FORM_INTAKE = request.param
    services._kick.update(at=time.monotonic(), task_id="")  # no drain task from these requests

    def settle() -> int:
        return services.process_intake(actor=services.SUBMITTER, now=dt.datetime.now(dt.UTC))

    return settle


def test_the_form_page_is_in_the_forms_language_with_unticked_boxes(client, form):
    response = client.get(f"/forms/{form.public_id}/")
    assert response.status_code == 200
    assert response["Content-Language"] == "nb"
    body = response.content.decode()
    assert 'lang="nb"' in body
    assert form.consents[0]["wording"] in body
    assert 'name="consent_newsletter_email" value="on">' in body, "unticked"
    assert "<script" not in body.split("<main")[1], "no inline script"


def test_a_plain_html_post_stores_everything_and_answers_with_a_thank_you_page(client, form, intake):
    response = client.post(
        f"/forms/{form.public_id}/",
        {"name": "Testa Testesen", "email": "testa@example.com", "consent_newsletter_email": "on", "question": "Pris?"},
        REMOTE_ADDR="198.51.100.23",
        HTTP_USER_AGENT="Testbrowser/1.0",
    )
    assert response.status_code == 303
    assert response["Location"] == f"/forms/{form.public_id}/thanks/"
    intake()
    person = Person.objects.get(email="testa@example.com")
    assert person.language == "nb"
    event = ConsentEvent.objects.get(person=person)
    assert (event.evidence_ip, event.evidence_user_agent, event.language) == ("198.51.100.0", "Testbrowser/1.0", "nb")
    thanks = client.get(response["Location"])
    assert thanks.status_code == 200
    assert thanks["Content-Language"] == "nb"


def test_a_cross_site_post_needs_no_csrf_token(form):
    client = Client(enforce_csrf_checks=True)
    response = client.post(f"/forms/{form.public_id}/", {"name": "Testa", "email": "testa@example.com"})
    assert response.status_code == 303


def test_bad_input_shows_the_form_again_naming_the_field_and_keeps_the_answers(client, form, intake):
    response = client.post(f"/forms/{form.public_id}/", {"name": "Testa", "email": "not-an-address", "question": "Hei"})
    assert response.status_code == 422
    body = response.content.decode()
    assert 'data-testid="error"' in body
    assert 'name="email" type="email" required autocomplete="email" value="not-an-address" aria-invalid="true"' in body
    assert ">Hei</textarea>" in body
    assert intake() == 0, "nothing queued"
    assert Person.objects.count() == 0


def test_unknown_forms_are_404(client):
    assert client.get("/forms/3f2b1c1e-0000-4000-8000-000000000000/").status_code == 404
    assert client.post("/forms/nonsense/", {"email": "testa@example.com"}).status_code == 404
    response = post_json(client, "/forms/3f2b1c1e-0000-4000-8000-000000000000/submissions", {})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_json_endpoint_answers_201_and_names_the_bad_field(client, form, intake):
    url = f"/forms/{form.public_id}/submissions"
    ok = post_json(client, url, {"name": "Testa", "email": "testa@example.com", "consent_newsletter_email": True})
    assert ok.status_code == 201
    assert ok.json() == {"status": "received"}
    assert ok["Access-Control-Allow-Origin"] == "*"
    intake()
    assert ConsentEvent.objects.filter(person__email="testa@example.com", purpose="newsletter").exists()
    missing = post_json(client, url, {"email": "other@example.com"})
    assert (missing.status_code, missing.json()["field"]) == (422, "name")
    unknown = post_json(client, url, {"name": "Testa", "email": "other@example.com", "shoe_size": 44})
    assert (unknown.status_code, unknown.json()["field"]) == (422, "shoe_size")
    phone = post_json(client, url, {"name": "Testa", "email": "other@example.com", "phone": "123"})
    assert (phone.status_code, phone.json()["field"]) == (422, "phone")
    broken = client.post(url, "{not json", content_type="application/json")
    assert broken.status_code == 400
    wrong_type = client.post(url, "name=Testa", content_type="application/x-www-form-urlencoded")
    assert wrong_type.status_code == 415
    preflight = client.options(url)
    assert preflight.status_code == 204
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert intake() == 0, "nothing of the refused ones was queued"
    assert Person.objects.count() == 1


def test_an_oversized_body_is_refused_before_anything_is_read(client, form):
    response = post_json(
        client,
        f"/forms/{form.public_id}/submissions",
        {"name": "T", "email": "t@example.com", "question": "x" * 1_100_000},
    )
    assert response.status_code == 413
    assert Person.objects.count() == 0


def test_the_honeypot_gets_the_same_answer_and_nothing_is_stored(client, form, intake):
    response = client.post(f"/forms/{form.public_id}/", {"name": "Bot", "email": "bot@example.com", "website": "x"})
    assert response.status_code == 303
    response = post_json(
        client, f"/forms/{form.public_id}/submissions", {"name": "Bot", "email": "bot@example.com", "website": "x"}
    )
    assert response.status_code == 201
    assert intake() == 0
    assert Person.objects.count() == 0


def test_one_address_is_rate_limited(client, form, settings, intake):
    settings.TILLIT_FORM_RATE_PER_MINUTE = 3
    url = f"/forms/{form.public_id}/submissions"
    # The limit counts per minute: the clock stands still mid-minute, so a slow machine cannot
    # carry the test across a minute boundary into a fresh count.
    with time_machine.travel(dt.datetime(2026, 11, 24, 12, 0, 20, tzinfo=dt.UTC), tick=False):
        codes = [
            post_json(
                client, url, {"name": "Testa", "email": f"testa{i}@example.com"}, REMOTE_ADDR="192.0.2.1"
            ).status_code
            for i in range(5)
        ]
        other = post_json(client, url, {"name": "Testa", "email": "other@example.com"}, REMOTE_ADDR="192.0.2.99")
        page = client.post(
            f"/forms/{form.public_id}/", {"name": "T", "email": "t@example.com"}, REMOTE_ADDR="192.0.2.1"
        )
    assert codes == [201, 201, 201, 429, 429]
    assert other.status_code == 201, "another address is not affected"
    assert page.status_code == 429
    assert b'data-testid="rate-limited"' in page.content
    intake()
    assert Person.objects.count() == 4


def test_the_embed_script_and_definition_are_first_party_and_csp_safe(client, form):
    script = client.get("/forms/embed.js")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("text/javascript")
    source = script.content.decode()
    assert "eval(" not in source
    assert "innerHTML" not in source
    assert ".style" not in source
    definition = client.get(f"/forms/{form.public_id}/definition.json").json()
    assert definition["language"] == "nb"
    assert [c["name"] for c in definition["consents"]] == ["consent_newsletter_email"]
    assert definition["submit_url"].endswith(f"/forms/{form.public_id}/submissions")
    assert definition["honeypot"] == "website"


# --- downloads ---------------------------------------------------------------------------------


@pytest.fixture
def brochure(system_actor, now):
    return services.create_material(
        actor=system_actor, now=now, slug="boat-brochure", title="Boat brochure", url="https://www.example.com/b.pdf"
    )


def test_an_anonymous_download_is_only_counted(client, brochure):
    response = client.get("/d/boat-brochure/")
    assert response.status_code == 302
    assert response["Location"] == "https://www.example.com/b.pdf"
    assert Material.objects.get(pk=brochure.pk).downloads == 1
    assert not Interaction.objects.exists()
    assert client.get("/d/no-such-thing/").status_code == 404


def test_a_download_through_a_persons_signed_link_is_on_their_timeline(client, brochure, system_actor, now):
    from tillit.people import services as people

    person = people.create_person(
        actor=system_actor, now=now, source="form", values={"name": "Testa", "email": "testa@example.com"}
    )
    token = services.download_token(material_id=brochure.pk, pseudonym=person.pseudonym)
    response = client.get(f"/d/boat-brochure/?t={token}")
    assert response.status_code == 302
    interaction = Interaction.objects.get(person=person)
    assert (interaction.kind, interaction.direction) == ("download", "inbound")
    person.refresh_from_db()
    assert person.last_contact_at is not None, "a download moves the retention clock (§9)"
    client.get(f"/d/boat-brochure/?t={token}x")
    assert Interaction.objects.count() == 1, "a tampered link downloads anonymously"
    assert Material.objects.get(pk=brochure.pk).downloads == 2


def test_a_form_offering_material_links_the_thank_you_page_to_a_personal_download(
    client, brochure, system_actor, now, intake
):
    form = services.create_form(
        actor=system_actor,
        now=now,
        name="Get the brochure",
        language="en",
        fields=[{"name": "name"}, {"name": "email"}],
        material_id=brochure.pk,
    )
    response = client.post(f"/forms/{form.public_id}/", {"name": "Testa", "email": "testa@example.com"})
    thanks = client.get(response["Location"])
    link = thanks.content.decode().split('data-testid="download"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert link.startswith("/d/boat-brochure/?t=")
    assert "testa" not in link, "no personal data in the link"
    intake()
    client.get(link.replace("&amp;", "&"))
    assert Interaction.objects.filter(kind="download", person__email="testa@example.com").exists()


# --- chat -------------------------------------------------------------------------------------

SECRET = "test-chat-secret-0123456789"


@pytest.fixture
def chat_secret(settings):
    settings.TILLIT_CHAT_WEBHOOK_SECRET = SECRET


def deliver(client, body: dict, *, secret: str = SECRET, at: dt.datetime | None = None, signature: str | None = None):
    raw = json.dumps(body).encode()
    timestamp = str(int((at or dt.datetime.now(dt.UTC)).timestamp()))
    return client.post(
        "/hooks/chat",
        raw,
        content_type="application/json",
        headers={
            "X-Tillit-Timestamp": timestamp,
            "X-Tillit-Signature": signature or chat.sign(secret, timestamp, raw),
        },
    )


TRANSCRIPT = {
    "email": "Chatty.Testesen@example.com",
    "name": "Chatty Testesen",
    "messages": [{"from": "visitor", "text": "Do you ship to Tromsø?"}, {"from": "agent", "text": "Yes, we do."}],
}


def test_a_signed_transcript_creates_the_person_and_a_chat_interaction(client, chat_secret):
    response = deliver(client, TRANSCRIPT)
    assert response.status_code == 201, response.content
    person = Person.objects.get(email="chatty.testesen@example.com")
    interaction = Interaction.objects.get(person=person)
    assert (interaction.kind, interaction.direction) == ("chat", "inbound")
    assert "visitor: Do you ship to Tromsø?" in interaction.summary
    second = deliver(client, {**TRANSCRIPT, "name": ""} | {"messages": [{"from": "visitor", "text": "Thanks"}]})
    assert second.status_code == 201
    assert Person.objects.count() == 1, "matched by email"


@pytest.mark.parametrize("case", ["wrong secret", "tampered", "stale", "missing"])
def test_a_wrongly_signed_delivery_is_refused_and_nothing_is_stored(client, chat_secret, case):
    if case == "wrong secret":
        response = deliver(client, TRANSCRIPT, secret="not-the-secret")
    elif case == "tampered":
        response = deliver(client, TRANSCRIPT, signature="sha256=" + "0" * 64)
    elif case == "stale":
        response = deliver(client, TRANSCRIPT, at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    else:
        response = client.post("/hooks/chat", json.dumps(TRANSCRIPT), content_type="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert response.json()["message"]
    assert Person.objects.count() == 0


def test_a_replayed_delivery_is_refused(client, chat_secret):
    raw = json.dumps(TRANSCRIPT).encode()
    timestamp = str(int(dt.datetime.now(dt.UTC).timestamp()))
    headers = {"X-Tillit-Timestamp": timestamp, "X-Tillit-Signature": chat.sign(SECRET, timestamp, raw)}
    assert client.post("/hooks/chat", raw, content_type="application/json", headers=headers).status_code == 201
    again = client.post("/hooks/chat", raw, content_type="application/json", headers=headers)
    assert again.status_code == 401
    assert "replay" in again.json()["message"]
    assert Interaction.objects.count() == 1


def test_the_webhook_refuses_everything_without_a_configured_secret(client, settings):
    settings.TILLIT_CHAT_WEBHOOK_SECRET = ""
    assert deliver(client, TRANSCRIPT).status_code == 503
    assert Person.objects.count() == 0


def test_chat_text_passes_the_sensitive_data_guard(client, chat_secret):
    body = {**TRANSCRIPT, "messages": [{"from": "visitor", "text": "My card is 4111 1111 1111 1111"}]}
    response = deliver(client, body)
    assert response.status_code == 201
    assert response.json()["held_for_review"] is True
    assert "4111" not in Interaction.objects.get().summary
    assert QuarantinedText.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "new@example.com", "messages": [{"from": "visitor", "text": "Hi"}]}, "name"),
        ({"name": "X", "messages": [{"from": "visitor", "text": "Hi"}]}, "email"),
        ({"email": "x@example.com", "name": "X", "messages": []}, "messages"),
        ({"email": "x@example.com", "name": "X", "messages": [{"from": "robot", "text": "Hi"}]}, "messages.0.from"),
        ({"email": "x@example.com", "name": "X", "messages": [{"from": "visitor", "text": "Hi"}], "ssn": 1}, "ssn"),
    ],
)
def test_a_malformed_transcript_is_422_naming_the_field(client, chat_secret, body, field):
    response = deliver(client, body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert Person.objects.count() == 0
    assert FormSubmission.objects.count() == 0
