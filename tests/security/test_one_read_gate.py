"""Issue 15, item 4: one read gate, no side doors. No staff page and no API answer shows a
person's data unless ``people.selectors`` (the gate) lets the role see them for the purpose.

Two guards keep it so:
- every selector that reads the personal-data fields of people either goes through the gate
  or is listed here with the reason it hands nothing to staff (a new one fails until it does
  one or the other);
- a person the gate refuses (told about no purpose, §14) is put everywhere a person can be
  (an organisation, a timeline, a newsletter, a dialogue, a campaign), and every staff page
  and API read of the authorisation matrix is opened by every role: their name, address and
  number appear nowhere. The privacy officer is left out on purpose: answering rights
  requests is a legal obligation, which reaches everyone (§13)."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil
import re

import pytest
from django.urls import get_resolver, reverse

import tillit
from tillit import policy
from tillit.consent import services as consent
from tillit.consent.models import NoticeVersion
from tillit.marketing import services as marketing
from tillit.marketing.models import Campaign, SendRecord
from tillit.people import services as people
from tillit.people.models import Person
from tillit.policy import purposes as purpose_rules
from tillit.sharing import services as sharing
from tillit.sharing.models import DialogueMember

from ..web.test_authorisation_matrix import API, WEB

# Selectors that read people's email, phone or name but hand none of it to staff, and why.
NOT_SHOWN_TO_STAFF = {
    "tillit.capture.selectors.public_form": "a form's definition: 'email' and 'phone' are kinds of field, no person",
    "tillit.consent.selectors.audience": "a queryset for sends and call lists; staff see it only via people_among",
    "tillit.consent.selectors.contact_facts": "the facts of the eligibility rule; the answer is allowed or not",
    "tillit.consent.selectors.suppressed_q": "a condition on people by keyed hashes; returns no rows",
    "tillit.consent.selectors.reserved_q": "a condition on people by keyed hashes (the Reservasjonsregisteret)",
    "tillit.consent.selectors.exclude_reserved": "narrows the audience queryset; returns no rows itself",
    "tillit.consent.selectors.is_reserved": "a yes or no for the eligibility rule's facts",
    "tillit.consent.selectors.numbers_checked": "person ids whose number the register data covers; no number",
    "tillit.marketing.selectors.audience": "a queryset for sends; the call list shows people via people_among",
    "tillit.marketing.selectors.call_purposes": "'phone' is a category of the policy here, no person",
    "tillit.marketing.selectors.callable_people": "a queryset; the call list shows it via people_among",
    "tillit.marketing.selectors.campaign_purposes": "'email' is a channel of the policy here, no person",
    "tillit.marketing.selectors.may_run_campaigns": "'email' is a category of the policy here, no person",
    "tillit.rights.selectors.contact_for_person": "where a rights answer goes (the person's own address); not shown",
    "tillit.rights.selectors.contact_for_pseudonym": "where a rights answer goes (the person's own address); not shown",
    "tillit.rights.selectors.subject_facts": "the facts of the rights rules; never rendered",
    "tillit.sharing.selectors.disclosure_facts": "the facts of the disclosure rule; data leaves only via disclose",
}
PERSONAL_FIELDS = re.compile(r"""["'](email|phone)["']|\.(email|phone)\b|person__(name|email|phone)|person\.name\b""")


def selectors_reading_personal_fields() -> dict[str, str]:
    found = {}
    for info in pkgutil.walk_packages(tillit.__path__, "tillit."):
        if not info.name.rpartition(".")[2].startswith("selectors") and ".selectors." not in info.name:
            continue
        module = importlib.import_module(info.name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ or name.startswith("_"):
                continue
            source = inspect.getsource(function)
            if PERSONAL_FIELDS.search(source):
                found[f"{module.__name__}.{name}"] = source
    return found


def test_every_selector_reading_personal_fields_goes_through_the_gate_or_says_why_not():
    found = selectors_reading_personal_fields()
    side_doors = sorted(
        name
        for name, source in found.items()
        if not name.startswith("tillit.people.selectors.")
        and "people_selectors." not in source
        and name not in NOT_SHOWN_TO_STAFF
    )
    assert side_doors == [], "read people through people.selectors, or list why staff never see the result"
    assert set(NOT_SHOWN_TO_STAFF) <= set(found), "a listed selector no longer reads personal fields: drop it"
    assert "tillit.sharing.selectors.dialogue_detail" in found, "the dialogue's people pass the gate"


# --- a refused person, everywhere ---------------------------------------------------------------

HIDDEN = {"name": "Hemmelig Skjultsen", "email": "hemmelig.skjultsen@example.com", "phone": "+4741999888"}
MARKERS = ("Hemmelig", "Skjultsen", "hemmelig.skjultsen", "41999888", "41 99 98 88")


@pytest.fixture
def everywhere(db, system_actor, now, make_staff):
    """The hidden person in every place a person can be, next to a visible one."""
    org = people.create_organization(actor=system_actor, now=now, source="form", values={"name": "Gate Test AS"})
    hidden, visible = (
        people.create_person(actor=system_actor, now=now, source="form", values={**values, "organization_id": org.pk})
        for values in (HIDDEN, {"name": "Synlig Person", "email": "synlig@example.com", "phone": "41000111"})
    )
    for person in (hidden, visible):
        people.record_interaction(
            actor=system_actor, now=now, person_id=person.pk, kind="call", direction="inbound", summary="Ringte"
        )
    newsletter = marketing.create_newsletter(
        actor=system_actor, now=now, key="gate", name={"en": "Gate news"}, description={"en": "News."}
    )
    for person in (hidden, visible):
        consent.open_subscription(
            actor=system_actor,
            now=now,
            person_id=person.pk,
            newsletter=newsletter.key,
            source_kind="double_opt_in",
            wording="Yes, send me Gate news.",
            language="en",
        )
    officer = make_staff("privacy_officer", username="gate-officer")
    from tillit.accounts.selectors import actor_for_user

    partner = sharing.register_partner(
        actor=actor_for_user(officer),
        now=now,
        values={
            "key": "gatepartner",
            "name": "Gate Partner AS",
            "org_number": "923130969",
            "contact_email": "privacy@gatepartner.example.com",
            "agreement_reference": "DPA-1",
            "agreement_dated": "2026-01-15",
        },
    )
    dialogue = sharing.open_dialogue(actor=system_actor, now=now, partner_id=partner.pk, kind="sales", title="Gate")
    sharing.add_to_dialogue(actor=system_actor, now=now, dialogue_id=dialogue.pk, person_ids=[visible.pk])
    DialogueMember.objects.create(dialogue=dialogue, person=hidden, added_at=now)  # from before the gate
    campaign = Campaign.objects.create(
        name="Gate campaign",
        purpose="newsletter",
        newsletter=newsletter,
        subjects={"en": "Hello"},
        bodies_text={"en": "Hello."},
        created_at=now,
    )
    for person in (hidden, visible):
        SendRecord.objects.create(campaign=campaign, person=person, message_id=f"<{person.pk}@gate.example>")
    told_nothing = NoticeVersion.objects.create(
        digest="5" * 64, policy_digest="x", published_at=now - dt.timedelta(days=900), purposes=[]
    )
    Person.objects.filter(pk=hidden.pk).update(notice_version=told_nothing)
    return {
        "person_id": hidden.pk,
        "organization_id": org.pk,
        "dialogue_id": dialogue.pk,
        "partner_id": partner.pk,
        "campaign_id": campaign.pk,
        "event_id": 424242,
        "visible": visible.pk,
    }


def _web_urls(ids: dict[str, int], purposes: tuple[str, ...]) -> list[str]:
    resolver = get_resolver().namespace_dict["web"][1]
    urls = []
    for method, name in WEB:
        if method != "GET":
            continue
        params = resolver.reverse_dict.getlist(name.partition(":")[2])[0][0][0][1]
        url = reverse(name, kwargs={p: ids.get(p, 424242) for p in params})
        urls.append(url)
        if "person_id" in params or name == "web:people":
            urls += [f"{url}?q=kjultse&purpose={p}" for p in purposes]
    return urls


def _api_urls(ids: dict[str, int], purposes: tuple[str, ...]) -> list[str]:
    urls = []
    for method, path in API:
        if method != "GET":
            continue
        url = path
        for key, value in ids.items():
            url = url.replace("{" + key + "}", str(value))
        url = re.sub(r"\{[a-z_]+\}", "424242", url)
        urls.append(url)
        if "{person_id}" in path or path == "/api/people":
            separator = "&" if "?" in url else "?"
            urls += [f"{url}{separator}q=kjultse&purpose={p}" for p in purposes]
    return urls


@pytest.mark.parametrize("role", ["marketing", "customer_support", "sales", "administrator"])
def test_no_staff_page_or_api_answer_shows_a_person_the_gate_refuses(role, everywhere, staff_client, api_as):
    purposes = purpose_rules.purposes_for_role(policy.current(), role)
    browser, program = staff_client(role), api_as(role)
    opened = 0
    for client, urls in ((browser, _web_urls(everywhere, purposes)), (program, _api_urls(everywhere, purposes))):
        for url in urls:
            response = client.get(url)
            assert response.status_code < 500, url
            body = b"".join(response.streaming_content) if response.streaming else response.content
            text = body.decode("utf-8", "replace")
            leaked = [marker for marker in MARKERS if marker in text]
            assert leaked == [], f"{role} GET {url} shows {leaked}"
            opened += 1
    assert opened >= 60
    if role == "sales":  # the pages do show people: the visible one is there
        page = browser.get(reverse("web:dialogue", args=[everywhere["dialogue_id"]])).content.decode()
        assert "Synlig Person" in page
