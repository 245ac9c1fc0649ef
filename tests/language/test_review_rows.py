"""The rows of the sv/nb language review (issue 25) that a reader sees in one place: each test
names the row it keeps fixed."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import translation

from tillit import policy
from tillit.people import services as people
from tillit.rights import answers

pytestmark = pytest.mark.django_db


def test_row_1_nb_says_tvingende_berettigede_grunner():
    body = Client().get("/rights?lang=nb").content.decode()
    assert "tvingende berettigede grunner" in body
    assert "mektige" not in body


@pytest.mark.parametrize(
    ("language", "expected"),
    [("sv", "Kommer ihåg dina val av cookies"), ("nb", "Husker valgene dine for informasjonskapsler")],
)
def test_row_2_the_banner_shows_each_cookies_purpose_in_the_visitors_language(language, expected):
    state = json.loads(Client().get(f"/cookies/state?lang={language}").content)
    purposes = [c["purpose"] for category in state["texts"]["categories"] for c in category["cookies"]]
    assert expected in purposes
    assert "Remembers your cookie choices" not in purposes


def test_row_3_sv_names_the_norwegian_personal_data_act():
    body = Client().get("/privacy?lang=sv").content.decode()
    assert "den norska personuppgiftslagen (personopplysningsloven)" in body


@pytest.mark.parametrize(
    ("language", "title", "label"),
    [
        ("sv", "Prenumerationen är bekräftad", "Prenumererar sedan"),
        ("nb", "Påmeldingen er bekreftet", "Abonnert fra"),
    ],
)
def test_row_9_a_page_title_and_a_field_label_are_two_messages(language, title, label):
    with translation.override(language):
        assert translation.pgettext("page title", "Subscribed") == title
        assert translation.gettext("Subscribed") == label
        assert translation.pgettext("page title", "Unsubscribed") != translation.gettext("Unsubscribed")


@pytest.mark.parametrize(
    ("language", "status", "button"),
    [("sv", "Bekräftad", "Markera som bekräftad"), ("nb", "Bekreftet", "Merk som bekreftet")],
)
def test_row_10_a_status_and_an_action_are_two_messages(language, status, button):
    from tillit.sharing.models import RecipientNotice

    with translation.override(language):
        assert str(RecipientNotice.Status.ACKNOWLEDGED.label) == status
        assert translation.pgettext("notice action", "Mark as acknowledged") == button


def test_row_36_one_word_two_genders():
    with translation.override("sv"):
        assert translation.gettext("closed") == "stängd"  # dialogen
        assert translation.pgettext("staff account", "closed") == "stängt"  # kontot
    with translation.override("nb"):
        assert translation.pgettext("staff account", "active") == "aktiv"  # kontoen
        assert translation.pgettext("customer relationship", "active") == "aktivt"  # kundeforholdet


def test_row_14_staff_menus_show_the_policy_labels_in_the_staff_language(staff_client):
    client = staff_client("administrator")
    body = client.get("/staff/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert ">Administratör<" in body or "Administratör</" in body
    assert "<td>administrator</td>" not in body
    assert '<option value="customer_support">Kundtjänst</option>' in body
    people_page = staff_client("sales").get("/people/", HTTP_ACCEPT_LANGUAGE="nb").content.decode()
    label = policy.current().purposes["sales_dialogue"].label
    assert label["nb"] in people_page
    assert label["en"] not in people_page


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", ["norska (bokmål)", "inom en månad", "organisationsnummer 923 130 969", "+47 70 31 00 86"]),
        ("nb", ["norsk (bokmål)", "innen én måned", "organisasjonsnummer 923 130 969", "Dens underdatabehandlere:"]),
    ],
)
def test_rows_4_12_15_16_35_the_access_answer_reads_as_written_in_the_language(language, expected, system_actor, now):
    person = people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Kari Nordmann", "email": "kari@example.com", "language": "nb"},
    )
    answer = answers.access_answer(person_id=person.pk, language=language, now=now)
    page = answers.render_access_html(answer, language)
    for text in expected:
        assert text in page, text
    assert "Norwegian" not in page
    assert "(UTC)" not in page
    assert "månad(er)" not in page
    assert "måned(er)" not in page
    if language == "sv":
        assert "integritetsmeddelande" not in page.lower()
        assert "24 november 2026 kl. 13.00" in page  # made at noon UTC, shown in Oslo time
    assert answer["generated_at"] == "2026-11-24T12:00:00Z"  # the JSON keeps ISO


def test_row_19_a_retention_duty_is_lagstod_and_hjemmel_not_a_legal_basis():
    sv = Client().get("/privacy?lang=sv").content.decode()
    nb = Client().get("/privacy?lang=nb").content.decode()
    basis = next(iter(policy.current().retention.legal_holds.values())).basis
    assert basis not in sv
    assert basis not in nb
    assert "Lagstöd: den norska bokföringslagen (bokføringsloven) § 13." in sv
    assert "Hjemmel: bokføringsloven § 13." in nb


def test_row_27_section_references_as_the_notice_writes_them():
    with translation.override("sv"):
        assert translation.gettext("Kept until %(date)s (§9).") == "Sparas till %(date)s (avsnitt 9)."
    with translation.override("nb"):
        assert translation.gettext("Kept until %(date)s (§9).") == "Lagres til %(date)s (punkt 9)."


@pytest.mark.parametrize(("language", "lead"), [("sv", "Används för: "), ("nb", "Brukes til: ")])
def test_row_34_the_banner_does_not_capitalise_a_purpose_inside_a_sentence(language, lead):
    state = json.loads(Client().get(f"/cookies/state?lang={language}").content)
    described = [c["description"] for c in state["texts"]["categories"] if c["description"].startswith(lead)]
    assert described
    for description in described:
        assert description[len(lead)].islower(), description
