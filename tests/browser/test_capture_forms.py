"""A form in a real browser: embedded on another website with one <script> tag under that
site's strict Content Security Policy, and as our own page with a plain HTML post."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator

import pytest

from tillit.capture import services
from tillit.consent.models import ConsentEvent
from tillit.core.actors import Actor
from tillit.people.models import Person

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@contextlib.contextmanager
def another_website(html: str, csp: str) -> Iterator[str]:
    """A website of our own on another loopback origin, with its own strict CSP."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", csp)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def form(now):
    return services.create_form(
        actor=Actor.system("tests"),
        now=now,
        name="Newsletter",
        language="sv",
        fields=[{"name": "name"}, {"name": "email"}, {"name": "message"}],
        consents=[{"purpose": "newsletter", "channel": "email"}],
    )


def test_the_embed_renders_unticked_and_posts_under_a_strict_csp(page, live_server, form):
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    html = (
        "<!doctype html><html><head><title>A website</title></head><body><h1>Our newsletter</h1>"
        f'<script src="{live_server.url}/forms/embed.js" data-tillit-form="{form.public_id}" async></script>'
        "</body></html>"
    )
    csp = f"default-src 'none'; script-src {live_server.url}; connect-src {live_server.url}"
    with another_website(html, csp) as site:
        page.goto(site)
        embedded = page.locator("form.tillit-form")
        embedded.wait_for()
    box = embedded.get_by_label(form.consents[0]["wording"])
    assert not box.is_checked(), "consent boxes start unticked"
    embedded.locator("input[name=name]").fill("Webbsida Testsson")
    embedded.locator("input[name=email]").fill("webbsida@example.com")
    embedded.locator("textarea[name=message]").fill("Hej!")
    box.check()
    embedded.locator("button[type=submit]").click()
    embedded.wait_for(state="detached")
    assert page.locator("p.tillit-message").inner_text(), "a thank-you in the form's place"
    assert not [m for m in console if "Content Security Policy" in m], console
    person = Person.objects.get(email="webbsida@example.com")
    event = ConsentEvent.objects.get(person=person)
    assert (event.wording, event.language) == (form.consents[0]["wording"], "sv")


def test_the_form_page_posts_plain_html_and_thanks_in_the_forms_language(page, live_server, form):
    page.goto(f"{live_server.url}/forms/{form.public_id}/")
    assert page.locator("html").get_attribute("lang") == "sv"
    page.locator("[data-testid=cookie-banner] [data-action=reject]").first.click()
    page.locator("#f-name").fill("Sida Testsson")
    page.locator("#f-email").fill("sida@example")
    page.locator("[data-testid=capture-form] button[type=submit]").click()
    assert page.get_by_test_id("error").is_visible()
    assert page.locator("#f-name").input_value() == "Sida Testsson", "what was typed is kept"
    page.locator("#f-email").fill("sida@example.com")
    page.locator("[data-testid=capture-form] button[type=submit]").click()
    page.get_by_test_id("thanks").wait_for()
    assert page.locator("html").get_attribute("lang") == "sv"
    assert Person.objects.filter(email="sida@example.com").exists()
    assert not ConsentEvent.objects.exists(), "nothing ticked, nothing recorded"
