"""Fixtures for marketing: a newsletter, subscribers, and helpers to read received mail."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tillit.consent import services as consent_services
from tillit.marketing import services
from tillit.marketing.models import NewsletterList
from tillit.people import services as people
from tillit.people.models import Person

NAMES = {"en": "Monthly news", "sv": "Månadsnytt", "nb": "Månedsnytt"}


@pytest.fixture(autouse=True)
def _https_links(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TILLIT_PUBLIC_URL = "https://tillit.example.com"


@pytest.fixture
def newsletter(system_actor, now) -> NewsletterList:
    return services.create_newsletter(
        actor=system_actor, now=now, key="monthly", name=NAMES, description={"en": "News once a month."}
    )


@pytest.fixture
def subscribe(system_actor, now, newsletter) -> Callable[..., Person]:
    """Register a person and subscribe them (as a confirmed double opt-in would)."""

    def make(email: str, *, language: str = "en", name: str = "Kari Testesen", phone: str = "") -> Person:
        values: dict[str, Any] = {"name": name, "email": email, "language": language}
        if phone:
            values["phone"] = phone
        person = people.create_person(actor=system_actor, now=now, source="form", values=values)
        consent_services.open_subscription(
            actor=system_actor,
            now=now,
            person_id=person.pk,
            newsletter=newsletter.key,
            source_kind="double_opt_in",
            wording="Yes, send me Monthly news.",
            language=language,
        )
        return person

    return make


def links(text: str) -> list[str]:
    return re.findall(r"https://tillit\.example\.com/[^\s\"<>]+", text)


def body(message: Any, subtype: str = "plain") -> str:
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else ""


def campaign_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "November news",
        "newsletter": "monthly",
        "subjects": {"en": "News in November", "nb": "Nytt i november"},
        "bodies_text": {"en": "Hello from Avara.", "nb": "Hei fra Avara."},
        "bodies_html": {"en": "<p>Hello from <b>Avara</b>.</p>"},
    }
    values.update(overrides)
    return values
