"""Swedish and Norwegian readers read Swedish and Norwegian (issue 25): every public page, every
email and the access answer, rendered in sv and nb, show no English word from the catalogue,
no snake_case key and no ISO timestamp.

The English words are taken from the catalogue itself: every word of an English msgid that
appears in no Swedish or Norwegian translation (so "Partner", "Status", "GDPR" or "cookies",
which the translations use too, are allowed) and is long enough not to be a Scandinavian word
by accident. A new English string that leaks into an sv or nb page is caught without anyone
updating a list. What a person wrote or was shown (their own data, a consent's exact wording,
demo contact summaries) is not our wording and is left out: the access answer marks it with
``class="value"`` / ``class="wording"``."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from tests.language.catalogue import entries
from tillit import policy
from tillit.audit import services as audit
from tillit.capture import services as capture
from tillit.consent import services as consent_services
from tillit.consent.links import consent_page_url
from tillit.consent.mail import indirect_notice_message, notice_update_message
from tillit.core.actors import Actor
from tillit.marketing import mail as marketing_mail
from tillit.marketing import services as marketing
from tillit.people import demo
from tillit.people import services as people
from tillit.people.models import CustomerRelationship, Interaction, Person
from tillit.public.notice import publish_current
from tillit.rights import answers
from tillit.rights import mail as rights_mail
from tillit.rights.models import DataSubjectRequest

pytestmark = pytest.mark.django_db(transaction=True)

LANGUAGES = ("sv", "nb")
WORD = re.compile(r"[A-Za-zÀ-ÿ]+")
# English words that are also Swedish or Norwegian words, names or codes a page rightly shows.
SHARED = {
    "avara",
    "tillit",
    "gdpr",
    "nace",
    "hosting",
    "cookies",
    "cookie",
    "control",
    "global",
    "privacy",
    "sense",
    "demo",
    "data",
    "person",
    "partner",
    "partners",
    "status",
    "browser",
    "service",
}
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
ISO = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}|\b)")
URLS = re.compile(r"(?:https?://|mailto:)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|/[\w/.-]+")
ANY_TAG = re.compile(r"<[^>]+>")
OWN_DATA = re.compile(
    r'<(span|strong|p|td)[^>]*class="(?:value|wording)"[^>]*>.*?</\1>|<(script|style)\b.*?</\2>', re.S
)


def _words(text: str) -> set[str]:
    text = re.sub(r"%\([a-z_]+\)[sd]|\{[^}]*\}|<[^>]+>", " ", text)
    return {w.lower() for w in WORD.findall(text)}


@cache
def english_words() -> frozenset[str]:
    """Words of the catalogue's English msgids that no sv or nb translation uses."""
    english: set[str] = set()
    foreign: set[str] = set()
    for language in LANGUAGES:
        for domain in ("django", "policy"):
            for entry in entries(language, domain):
                english |= _words(entry.msgid) | _words(entry.plural)
                for text in entry.translations:
                    foreign |= _words(text)
    for labels in _policy_labels():
        for language in LANGUAGES:
            foreign |= _words(labels.get(language, ""))
    return frozenset(w for w in english - foreign - SHARED if len(w) >= 4)


def _policy_labels() -> Iterator[dict[str, str]]:
    def walk(node: object) -> Iterator[dict[str, str]]:
        if isinstance(node, dict):
            if "en" in node and all(isinstance(v, str) for v in node.values()):
                yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                yield from walk(value)

    yield from walk(tomllib.loads(Path(settings.TILLIT_POLICY_PATH).read_text(encoding="utf-8")))


@cache
def cookie_names() -> tuple[str, ...]:
    return tuple(c.name for category in policy.current().cookies.values() for c in category.cookies)


def problems(text: str, *, markup: bool = True) -> list[str]:
    """What an sv or nb reader should not see in ``text`` (a page, an email, JSON strings)."""
    if markup:
        body = text
        if "<main" in body:
            body = body[body.index("<main") : body.index("</main>")]
        body = OWN_DATA.sub(" ", body)
        body = html.unescape(ANY_TAG.sub(" ", body))
    else:
        body = text
    body = URLS.sub(" ", body)
    for name in cookie_names():  # a cookie is named by its name, in every language
        body = body.replace(name, " ")
    found = [f"English word {w!r}" for w in sorted({w.lower() for w in WORD.findall(body)} & english_words())]
    found += [f"key {k!r}" for k in sorted(set(SNAKE.findall(body)))]
    found += [f"ISO timestamp {t!r}" for t in sorted(set(ISO.findall(body)))]
    return found


# JSON keys whose values are codes or addresses for the banner's script, not words it shows.
CODE_KEYS = {"key", "name", "allowed", "clear", "choice", "statistics", "categories_allowed"}


def shown_strings(node: object, key: str = "") -> Iterator[str]:
    """The strings of the cookie banner's JSON that the banner shows to the visitor."""
    if isinstance(node, dict):
        for k, value in node.items():
            if k not in CODE_KEYS and not k.endswith("_url"):
                yield from shown_strings(value, k)
    elif isinstance(node, list):
        for value in node:
            yield from shown_strings(value, key)
    elif isinstance(node, str):
        yield node


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def world(now, system_actor, settings, immediate_tasks, smtp_server):  # type: ignore[no-untyped-def]
    """A demo system (people with contact, consents, subscriptions, orders), a published notice
    and a newsletter, on the clock of the demo."""
    settings.TILLIT_PUBLIC_URL = "http://127.0.0.1:8000"
    with time_machine.travel(now, tick=False):
        demo.generate_demo(people=30, seed=7, now=now)
        marketing.create_newsletter(
            actor=system_actor,
            now=now,
            key=demo.DEMO_NEWSLETTER,
            name={"en": "Avara Insights", "sv": "Avara Insikt", "nb": "Avara Innsikt"},
            description={"en": "Once a month.", "sv": "En gång i månaden.", "nb": "Én gang i måneden."},
        )
        publish_current(now)
        yield smtp_server


def _customer() -> Person:
    ids = CustomerRelationship.objects.values_list("person_id", flat=True)
    return Person.objects.filter(pk__in=ids).order_by("pk").first() or Person.objects.order_by("pk").first()


def _busiest() -> Person:
    counts: dict[int, int] = {}
    for person_id in Interaction.objects.values_list("person_id", flat=True):
        counts[person_id] = counts.get(person_id, 0) + 1
    return Person.objects.get(pk=max(counts, key=lambda k: counts[k]))


def public_pages(language: str, system_actor, now, inbox) -> Iterator[tuple[str, str, bool]]:  # type: ignore[no-untyped-def]
    """(name, text, is_markup) of every page a data subject can reach, in ``language``."""
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    q = f"?lang={language}"

    def get(path: str) -> str:
        response = client.get(path + (("&" if "?" in path else "?") + f"lang={language}"))
        assert response.status_code == 200, (path, response.status_code)
        return response.content.decode()

    def post(path: str, data: dict[str, str]) -> str:
        response = client.post(path + q, data | {"lang": language}, follow=True)
        assert response.status_code in (200, 422), (path, response.status_code)
        return response.content.decode()

    for path in ("/privacy", "/privacy/versions", "/rights", "/newsletter/", "/preferences/"):
        yield path, get(path), True
    yield "/cookies/state", "\n".join(shown_strings(json.loads(get("/cookies/state")))), False

    person = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Kari Nordmann", "email": f"kari.{language}@example.com", "language": language},
    )
    consent_services.open_subscription(
        actor=system_actor,
        now=now,
        person_id=person.pk,
        newsletter="monthly-insights",
        source_kind="double_opt_in",
        wording="Ja tack.",
        language=language,
    )
    consent_path = _path(consent_page_url(str(person.pseudonym)))
    yield "consent page", get(consent_path), True
    yield (
        "newsletter subscribed",
        post(
            "/newsletter/",
            {"email": f"new.{language}@example.com", "newsletter": "monthly-insights", "name": "Ny Person"},
        ),
        True,
    )
    token = marketing_mail.unsubscribe_token(
        pseudonym=str(person.pseudonym), newsletter="monthly-insights", purpose="newsletter"
    )
    unsubscribe = _path(marketing_mail.unsubscribe_url(token))
    yield "unsubscribe", get(unsubscribe), True
    yield "unsubscribed", post(unsubscribe, {}), True

    request = marketing.request_subscription(
        actor=system_actor,
        now=now,
        email=f"confirm.{language}@example.com",
        newsletter="monthly-insights",
        language=language,
        source_kind="form",
        wording="Ja tack.",
        name="Ny Person",
    )
    assert request is not None
    confirm = _path(marketing_mail.confirmation_url(request.pk))
    yield "newsletter confirm", get(confirm), True
    yield "newsletter confirmed", post(confirm, {}), True

    # The rights portal, end to end: an erasure by a customer (the legal hold is explained).
    customer = people.create_person(
        actor=system_actor,
        now=now,
        source="order",
        values={"name": "Kunde Testesen", "email": f"kunde.{language}@example.com", "language": language},
    )
    capture.record_order(
        actor=system_actor,
        now=now,
        person_id=customer.pk,
        number=f"A-{language}",
        currency="nok",
        lines=[{"product": "Avara Cloud", "quantity": 1, "unit_price": "100.00"}],
    )
    people.end_customer_relationship(actor=system_actor, now=now, person_id=customer.pk)
    before = len(inbox.messages)
    yield "rights sent", post("/rights", {"email": customer.email, "kind": "erasure"}), True
    verify = re.search(r"https?://[^/\s]+(/rights/verify/[^\s?]+)", inbox.messages[before].get_content())
    assert verify, inbox.messages[before].get_content()
    yield "rights confirm", get(verify.group(1)), True
    done = post(verify.group(1), {})
    assert 'data-testid="kept"' in done, done  # the bookkeeping hold and its legal basis are shown
    yield "rights done", done, True


def emails(language: str, now) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(name, subject and body) of every email template, built as the app builds them."""
    person = _busiest()
    pseudonym = str(person.pseudonym)
    yield (
        "notice update",
        _message(
            notice_update_message(
                email="a@example.com",
                name="Kari",
                language=language,
                pseudonym=pseudonym,
                purposes=list(policy.current().purposes)[:2],
            )
        ),
    )
    yield (
        "indirect notice",
        _message(
            indirect_notice_message(
                email="a@example.com",
                name="Kari",
                language=language,
                pseudonym=pseudonym,
                source=next(k for k, s in policy.current().sources.items() if not s.direct),
                obtained_at=now,
                categories=("name", "email"),
                message_id="<x@example.com>",
            )
        ),
    )
    yield (
        "confirm",
        _message(
            marketing_mail.confirmation_message(
                email="a@example.com", name="Kari", language=language, request_id=1, newsletter_name="Avara Insikt"
            )
        ),
    )
    yield (
        "preferences",
        _message(
            marketing_mail.preference_link_message(
                email="a@example.com", name="Kari", language=language, pseudonym=pseudonym
            )
        ),
    )
    template = marketing_mail.campaign_template(
        language=language,
        subject="Nytt",
        text="Hei.",
        html="",
        newsletter="monthly-insights",
        newsletter_name="Avara Insikt",
        purpose="newsletter",
    )
    yield "campaign footer", template.text
    yield "campaign footer (HTML)", ANY_TAG.sub(" ", template.html)
    yield (
        "verify",
        _message(
            rights_mail.verification_message(
                email="a@example.com", language=language, kind="erasure", token="t", hours=24
            )
        ),
    )
    outcomes = {
        "access": {"download_days": 7},
        "erasure": {
            "erased": ["name", "email"],
            "kept": [
                {
                    "hold": "bookkeeping",
                    "basis": next(iter(policy.current().retention.legal_holds.values())).basis,
                    "years": 5,
                }
            ],
            "receipt": "abc",
        },
        "withdrawal": {"kept_because": True},
        "objection": {},
        "objection_processing": {"objected_purpose": "sales_dialogue"},
        "rectification": {"corrections": [{"field": "phone", "status": "refused", "reason": "—"}]},
    }
    for kind, outcome in outcomes.items():
        request = DataSubjectRequest(
            kind=kind,
            outcome=outcome,
            extended_until=now + dt.timedelta(days=40),
            extension_reason="—",
            refusal_reason="—",
        )
        yield (
            f"answer ({kind})",
            _message(
                rights_mail.answer_message(
                    email="a@example.com",
                    language=language,
                    request=request,
                    download_token="t" if kind == "access" else None,
                )
            ),
        )
    request = DataSubjectRequest(
        kind="access", outcome={}, extended_until=now + dt.timedelta(days=40), extension_reason="—", refusal_reason="—"
    )
    yield "extended", _message(rights_mail.extension_message(email="a@example.com", language=language, request=request))
    yield "refused", _message(rights_mail.refusal_message(email="a@example.com", language=language, request=request))


def _message(message) -> str:  # type: ignore[no-untyped-def]
    return f"{message.subject}\n{message.body}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_public_page_email_and_access_answer_is_free_of_english_keys_and_iso_times(
    language, world, system_actor, now
):  # type: ignore[no-untyped-def]
    found: dict[str, list[str]] = {}
    for name, text, markup in public_pages(language, system_actor, now, world):
        found[f"page {name}"] = problems(text, markup=markup)
    for name, text in emails(language, now):
        found[f"email {name}"] = problems(text, markup=False)
    busiest = _busiest()
    for actor in (
        Actor(kind="staff", role="sales", user_id=1, label="staff:1"),
        Actor.system("indirect_notices"),
        Actor(kind="data_subject", role=None, user_id=None, label="data_subject:portal"),
    ):
        audit.record(
            actor=actor, now=now, action="read", subject_type="person", subject_id=busiest.pk, purpose="sales_dialogue"
        )
    for person in (busiest, _customer()):
        answer = answers.access_answer(person_id=person.pk, language=language, now=now)
        found[f"access answer of person {person.pk}"] = problems(answers.render_access_html(answer, language))
    found = {where: what for where, what in found.items() if what}
    assert not found, "\n".join(f"{where}: {', '.join(what)}" for where, what in found.items())


def test_the_check_catches_english_keys_and_iso_times():
    assert "withdrawal" in english_words()
    assert "unsubscribe" in english_words()
    assert problems("<main>Ditt samtycke: withdrawn</main>") == ["English word 'withdrawn'"]
    assert problems("<main>Nyckel: kund_nr</main>") == ["key 'kund_nr'"]
    assert problems("<main>Skapat 2026-12-03T09:04:56Z</main>") == ["ISO timestamp '2026-12-03T09:04'"]
    assert problems('<main><span class="value">Offer for Avara Payroll</span></main>') == []
