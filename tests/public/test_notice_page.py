"""/privacy: the privacy notice rendered from the policy file in English, Swedish and Norwegian
Bokmål, with every fact of the policy (§1-§16) and nothing that a strict CSP would refuse."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.public.conftest import page_text
from tillit import policy
from tillit.public.notice import (
    format_organisation_number,
    format_phone,
    policy_free_texts,
    policy_text,
    render_notice_text,
)

pytestmark = pytest.mark.django_db
LANGUAGES = ("en", "sv", "nb")


def notice(client: Client, language: str) -> str:
    response = client.get("/privacy", {"lang": language})
    assert response.status_code == 200
    assert response["Content-Language"] == language
    return page_text(response.content)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_purpose_and_category_label_is_on_the_page(client: Client, language: str) -> None:
    text = notice(client, language)
    current = policy.current()
    for purpose in current.purposes.values():
        assert purpose.label[language] in text, purpose.key
    for category in current.categories.values():
        assert category.label[language] in text, category.key
    for role in current.roles.values():
        assert role.label[language] in text, role.key


@pytest.mark.parametrize("language", LANGUAGES)
def test_controller_authority_processor_and_cookies_are_on_the_page(client: Client, language: str) -> None:
    text = notice(client, language)
    current = policy.current()
    controller = current.controller
    assert format_organisation_number(controller.organisation_number, controller.country) == "923 130 969"
    assert "923 130 969" in text
    assert controller.street in text
    assert f"{controller.postcode} {controller.city}" in text
    assert controller.email in text
    assert format_phone(controller.phone) == "+47 70 31 00 86"
    assert "+47 70 31 00 86" in text
    assert current.supervisory_authority.name in text
    assert current.supervisory_authority.website in text
    assert "(GDPR art. 77)" in text, "the authority where the person lives or works, too (e.g. IMY in Sweden)"
    processor = current.processors["7sense"]
    assert processor.name == "7Sense AS"
    assert processor.name in text
    for sub in processor.sub_processors:
        assert policy_text(sub.name, language) in text
    for category in current.cookies.values():
        assert category.label[language] in text
        for cookie in category.cookies:
            assert cookie.name in text
            assert policy_text(cookie.purpose, language) in text
    for source in current.sources.values():
        if source.section > 0:
            assert source.label[language] in text, source.key


def test_the_page_links_to_the_rights_portal_and_the_authority(client: Client) -> None:
    body = client.get("/privacy").content.decode()
    assert 'href="/rights"' in body
    assert 'href="mailto:post@avara.no"' in body
    assert 'href="https://www.datatilsynet.no"' in body


def test_facts_in_english(client: Client) -> None:
    text = notice(client, "en")
    for fact in (
        "2 years after the last contact you took part in",
        "as long as you subscribe, and 2 years after you unsubscribe",
        "5 years, even if everything else about you has been erased",
        "The Norwegian Bookkeeping Act (bokføringsloven) § 13",
        "13 months",
        "Legitimate interest assessment: sales dialogue and phone contact with business contacts",
        "exception for existing customers",
        "We never sell your personal data.",
        "Jan. 2, 2024",  # the data processing agreement with 7Sense AS
        "We answer within 1 month of receiving your request.",
        "up to 2 further months",
        "Sec-GPC: 1",
        "Ordinary email is unencrypted",
        "Do not send us sensitive personal data by email.",
    ):
        assert fact in text, fact
    assert text.count("tillit_visitor: Counts visits so we can improve the website. Kept for 365 days.") == 1


@pytest.mark.parametrize(
    ("language", "heading"),
    [
        ("en", "Your right to object to direct marketing"),
        ("sv", "Din rätt att invända mot direktmarknadsföring"),
        ("nb", "Din rett til å protestere mot direkte markedsføring"),
    ],
)
def test_the_right_to_object_stands_apart(client: Client, language: str, heading: str) -> None:
    """GDPR art. 21(4): stated clearly and separately from other information."""
    body = client.get("/privacy", {"lang": language}).content.decode()
    box = re.search(r'<section class="objection"[^>]*>(.*?)</section>', body, re.S)
    assert box is not None
    assert heading in box.group(1)


def test_accept_language_swedish(client: Client) -> None:
    response = client.get("/privacy", headers={"accept-language": "sv-SE,sv;q=0.9,en;q=0.5"})
    assert response["Content-Language"] == "sv"
    text = page_text(response.content)
    assert '<html lang="sv">' in response.content.decode()
    for words in (
        "Integritetspolicy för Avara AS",
        "Dina rättigheter",
        "personuppgiftsansvarig",
        "tillsynsmyndigheten",
    ):
        assert words.lower() in text.lower(), words


@pytest.mark.parametrize("header", ["nb", "no", "nn-NO,en;q=0.3", "no,en-US;q=0.7,en;q=0.3"])
def test_accept_language_norwegian_gives_bokmal(client: Client, header: str) -> None:
    response = client.get("/privacy", headers={"accept-language": header})
    assert response["Content-Language"] == "nb"


def test_lang_parameter_wins_over_accept_language(client: Client) -> None:
    response = client.get("/privacy?lang=nb", headers={"accept-language": "sv"})
    assert response["Content-Language"] == "nb"
    text = page_text(response.content)
    for words in ("Personvernerklæring", "Dine rettigheter", "behandlingsansvarlig", "Datatilsynet"):
        assert words.lower() in text.lower(), words


def test_unknown_language_falls_back_to_english(client: Client) -> None:
    response = client.get("/privacy?lang=de", headers={"accept-language": "de-DE,fr;q=0.8"})
    assert response["Content-Language"] == "en"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_says_every_line_of_the_versioned_text(client: Client, language: str) -> None:
    """The page and the plain text (which is hashed) say the same sentences."""
    text = notice(client, language)
    for line in render_notice_text(language).splitlines():
        sentence = re.sub(r"\s+", " ", line.removeprefix("- ").strip())
        assert sentence in text, sentence


def test_swedish_and_norwegian_are_translated() -> None:
    """Every sentence of the notice has a translation: no line of the English text recurs in
    the Swedish or Norwegian text, except names (the controller, its street, Global Privacy Control)."""
    controller = policy.current().controller
    english = set(render_notice_text("en").splitlines()) - {""}
    for language in ("sv", "nb"):
        same = english & set(render_notice_text(language).splitlines())
        assert same <= {controller.name, controller.street, "Global Privacy Control"}, (language, same)


@pytest.mark.parametrize("language", ["sv", "nb"])
def test_the_policy_free_text_is_translated(language: str) -> None:
    """Text the policy file gives in English only (cookie purposes, the processor's task ...) has
    an entry in locale/<language>/LC_MESSAGES/policy.po; add one when the file gains text."""
    untranslated = [t for t in policy_free_texts(policy.current()) if policy_text(t, language) == t]
    assert untranslated == []


def test_the_page_sets_no_cookie_and_has_no_inline_script_or_style(client: Client) -> None:
    response = client.get("/privacy", headers={"sec-gpc": "1"})
    assert response.status_code == 200
    assert not response.cookies, list(response.cookies)
    non_essential = {c.name for cat in policy.current().cookies.values() if cat.consent_required for c in cat.cookies}
    assert "Set-Cookie" not in response.headers
    assert not non_essential & set(response.cookies)
    body = response.content.decode()
    assert re.search(r"<script(?![^>]*\ssrc=)", body) is None, "only first-party script files (the cookie banner)"
    assert "<style" not in body
    assert " style=" not in body
    assert re.search(r"\son[a-z]+=", body) is None  # no inline event handlers
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert '<link rel="stylesheet" href="/static/public/public.css">' in body


def test_version_date_and_hash_at_the_top(client: Client) -> None:
    from tillit.consent import selectors

    body = client.get("/privacy").content.decode()
    version = selectors.current_notice()
    assert version is not None
    assert version.digest[:8] in body[: body.index('class="toc"')]
    assert version.texts["en"] == render_notice_text("en")
