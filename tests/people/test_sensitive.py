"""The sensitive data guard (policy §16 "sensitive personal data should not be sent by email",
GDPR art. 9): national identity numbers, payment cards and IBANs validated with python-stdnum,
special-category terms in en, sv and nb; ordinary business text passes untouched. A hit is
held back in quarantine for the privacy officer, never shown on the timeline, and the audit
log names the kinds found, never the text."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.no import fodselsnummer

from tillit.audit.models import AuditEntry
from tillit.core.errors import NotFoundError, PermissionDeniedError
from tillit.people import selectors, services
from tillit.people.models import Interaction, Person, QuarantinedText
from tillit.policy import sensitive
from tillit.policy.sensitive import scan
from tillit.retention.services import erase_person


def valid_fnr(birth: str, individual: int = 123) -> str:
    """A valid fødselsnummer for the birth date DDMMYY: the first individual number from
    ``individual`` whose check digits come out as single digits (stdnum's own helpers)."""
    for number in range(individual, 1000):
        base = f"{birth}{number:03d}"
        first = fodselsnummer.calc_check_digit1(base)
        second = fodselsnummer.calc_check_digit2(base + first)
        if len(first) == 1 and len(second) == 1:
            return base + first + second
    raise AssertionError("no valid number")


def valid_pnr(date: str, serial: str = "123") -> str:
    """A valid Swedish personnummer, YYMMDD + three digits + the Luhn check digit."""
    return date + serial + luhn.calc_check_digit(date + serial)


FNR = valid_fnr("010190")  # born 1 January 1990
FNR_D = valid_fnr("410190")  # a D-number: day + 40
PNR = valid_pnr("900101")
PNR_SAMORDNING = valid_pnr("900161")  # samordningsnummer: day + 60


def wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def kinds_in(text: str) -> set[str]:
    return {f.kind for f in scan(text)}


def categories_in(text: str) -> set[str | None]:
    return {f.category for f in scan(text) if f.kind == sensitive.SPECIAL_CATEGORY}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"fnr {FNR}", "national_id_no"),
        (f"my number is {FNR[:6]} {FNR[6:]}", "national_id_no"),
        (f"fødselsnummer: {FNR[:6]}-{FNR[6:]}.", "national_id_no"),
        (f"D-nummer {FNR_D}", "national_id_no"),
        (f"personnummer {PNR[:6]}-{PNR[6:]}", "national_id_se"),
        (f"personnummer 19{PNR[:6]}-{PNR[6:]}", "national_id_se"),
        (f"pnr 19{PNR}", "national_id_se"),
        (f"samordningsnummer {PNR_SAMORDNING[:6]}-{PNR_SAMORDNING[6:]}", "national_id_se"),
        ("card 4111 1111 1111 1111 exp 12/28", "payment_card"),
        ("card 4111-1111-1111-1111", "payment_card"),
        ("kort 4111111111111111", "payment_card"),
        ("Mastercard 5555 5555 5555 4444", "payment_card"),
        ("Amex 3782 822463 10005", "payment_card"),
        ("Discover 6011111111111117", "payment_card"),
        ("JCB 3530111333300000", "payment_card"),
        ("Diners 30569309025904", "payment_card"),
        ("kontonummer NO93 8601 1117 947", "iban"),
        ("IBAN NO9386011117947, thanks", "iban"),
        ("iban no93 8601 1117 947 OK?", "iban"),
        ("GB82 WEST 1234 5698 7654 32 is our account", "iban"),
        ("SE45 5000 0000 0583 9825 7466", "iban"),
        ("DE89 3704 0044 0532 0130 00", "iban"),
    ],
)
def test_identity_numbers_cards_and_ibans_are_found(text, kind):
    assert kinds_in(text) == {kind}


@pytest.mark.parametrize(
    "text",
    [
        f"fnr {wrong_check_digit(FNR)}",
        "fnr 01019012345",  # check digits wrong
        "fnr 320190 12345",  # 32 January
        f"pnr {wrong_check_digit(PNR)[:6]}-{wrong_check_digit(PNR)[6:]}",
        "pnr 901301-1234",  # month 13
        "card 4111 1111 1111 1112",  # Luhn fails
        "card 1234 5678 1234 5678",  # Luhn fails
        "ref 4929123456789012",  # Luhn fails
        "ref 7000000000000007",  # Luhn-valid, but no card issuer starts with 7
        "iban NO93 8601 1117 948",  # checksum fails
        "iban XX93 8601 1117 947",  # no such country
        "random digits 83749201 4472 19",
    ],
)
def test_random_digits_and_near_misses_are_not_found(text):
    assert scan(text) == []


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # English
        ("She has diabetes and may be slow to reply", "health"),
        ("He is being treated for cancer", "health"),
        ("Our contact is on sick leave until March", "health"),
        ("She is pregnant, so the handover is in May", "health"),
        ("He is a member of the trade union", "trade_union"),
        ("He is the union representative at the plant", "trade_union"),
        ("He is a practising Muslim", "religion"),
        ("His religion does not allow it", "religion"),
        ("He is gay", "sexual_orientation"),
        ("She is bisexual", "sexual_orientation"),
        ("Their ethnic background", "ethnicity"),
        ("He is a Labour Party member", "political_opinion"),
        ("Her political views are strong", "political_opinion"),
        ("He has AIDS", "health"),
        # Norwegian Bokmål
        ("Han har kreft", "health"),
        ("Hun har brystkreft", "health"),
        ("Hun er gravid", "health"),
        ("Kari er sykemeldt ut måneden", "health"),
        ("Han er med i fagforeningen", "trade_union"),
        ("Hun er tillitsvalgt", "trade_union"),
        ("Han er kristen", "religion"),
        ("Han er homofil", "sexual_orientation"),
        ("Hun er bifil", "sexual_orientation"),
        ("Han er partimedlem", "political_opinion"),
        ("Hun stemmer på Arbeiderpartiet", "political_opinion"),
        ("Han har etnisk minoritetsbakgrunn", "ethnicity"),
        ("Hun er samisk", "ethnicity"),
        # Swedish
        ("Hon är sjukskriven", "health"),
        ("Han har cancer", "health"),
        ("Han är med i ett fackförbund", "trade_union"),
        ("Hon är fackligt aktiv", "trade_union"),
        ("Han är muslim", "religion"),
        ("Hon är kristen", "religion"),
        ("Han är homosexuell", "sexual_orientation"),
        ("Hon röstar på Socialdemokraterna", "political_opinion"),
        ("Hennes etniska bakgrund", "ethnicity"),
        # case and decomposed letters do not hide a term
        ("DIABETES", "health"),
        ("Han är med i ett fackfo\u0308rbund", "trade_union"),
    ],
)
def test_special_category_terms_are_found_in_english_swedish_and_norwegian(text, category):
    assert category in categories_in(text)


@pytest.mark.parametrize(
    "text",
    [
        "We need a union of two datasets",
        "The European Union's VAT rules apply from January",
        "Our summer party is on Friday at the office",
        "The health check endpoint returns 200",
        "Please diagnose the problem with the printer",
        "We will send a cancellation notice",
        "Markedskreftene virker; vi har krefter til å levere",
        "Kristen Nygaard invented object-oriented programming",
        "Christian Hansen is our new CTO",
        "The party will pay the invoice within 30 days",
        "Partiet med varer ble levert i går",
        "Til høyre for inngangen, i venstre fløy",
        "Church Street 4, London",
        "The new hearing aids product line",
        "Genomgång av sjukhusets inköp av utrustning",
        "Please call me on +47 412 34 567 or +46 70 123 45 67",
        "Ring 0701234567 eller 41234567",
        "Org.nr. 923 130 969, MVA",
        "Organisationsnummer 556016-0680",
        "Invoice 2024-0117 of 24.11.2026, NOK 12 500,00",
        "Our address is Raveien 438, 3239 Sandefjord",
        "ISBN 978-82-02-12345-6, order 100234 5678",
        "Meeting 2026-11-24 10:00-11:30 in room 4",
        "Tracking number 00340434161234567890",
    ],
)
def test_ordinary_business_text_does_not_trigger(text):
    assert scan(text) == [], [f.label for f in scan(text)]


def test_a_finding_says_what_and_where_never_the_value():
    text = f"Kari har diabetes, fnr {FNR}"
    findings = scan(text)
    assert [f.label for f in findings] == ["special_category:health", "national_id_no"]
    assert text[findings[1].start : findings[1].end] == FNR
    for finding in findings:
        assert FNR not in repr(finding)
        assert "diabetes" not in repr(finding)
    assert sensitive.kinds(findings) == ["national_id_no", "special_category"]


def test_the_number_inside_an_iban_is_not_reported_twice():
    assert [f.kind for f in scan("NO9386011117947")] == ["iban"]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_scan_never_raises_on_any_text(text):
    for finding in scan(text):
        assert 0 <= finding.start < finding.end <= len(text)
        assert finding.kind in sensitive.KINDS


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 -+NOSEGBnoabc", max_size=60))
def test_scan_never_raises_on_digit_soup(text):
    scan(text)


# --- quarantine through record_interaction ------------------------------------------------


@pytest.fixture
def person(system_actor, now):
    return services.create_person(
        actor=system_actor,
        now=now - dt.timedelta(days=400),
        source="form",
        values={"name": "Kari Testesen", "email": "kari@example.com"},
    )


@pytest.mark.django_db
def test_a_hit_is_held_back_and_the_timeline_shows_a_placeholder(staff_actor, now, person):
    actor = staff_actor("sales")
    recorded = services.guard_and_record_interaction(
        actor=actor,
        now=now,
        person_id=person.pk,
        kind="call",
        direction="inbound",
        subject="Call about the offer",
        summary=f"Kari said she is sykemeldt. Her fnr is {FNR}.",
    )
    assert recorded.quarantined
    interaction = Interaction.objects.get(pk=recorded.interaction.pk)
    assert interaction.summary == services.HELD_SUMMARY
    assert interaction.subject == "Call about the offer", "a subject without a hit is kept"
    assert FNR not in interaction.summary

    held = QuarantinedText.objects.get(interaction=interaction)
    assert held.person_id == person.pk
    assert held.source == "call"
    assert held.staff_id == actor.user_id
    assert FNR in held.text
    assert {(f["kind"], f["category"]) for f in held.findings} == {
        ("special_category", "health"),
        ("national_id_no", None),
    }
    assert all(set(f) == {"field", "kind", "category", "start", "end"} for f in held.findings)

    entry = AuditEntry.objects.get(action="quarantine", subject_type="interaction", subject_id=interaction.pk)
    assert entry.fields == ["national_id_no", "special_category"]
    for row in AuditEntry.objects.values_list("fields", flat=True):
        assert FNR not in str(row)
        assert "sykemeldt" not in str(row)
        assert "health" not in str(row), "the audit log outlives the person: kinds only"


@pytest.mark.django_db
def test_a_hit_in_the_subject_replaces_the_subject_too(staff_actor, now, person):
    interaction = services.record_interaction(
        actor=staff_actor("customer_support"),
        now=now,
        person_id=person.pk,
        kind="note",
        direction="internal",
        subject="Pregnant, back in June",
        summary="Hand over to a colleague.",
    )
    interaction.refresh_from_db()
    assert (interaction.subject, interaction.summary) == (services.HELD_SUBJECT, services.HELD_SUMMARY)
    held = QuarantinedText.objects.get(interaction=interaction)
    assert (held.subject, held.text, held.source) == ("Pregnant, back in June", "Hand over to a colleague.", "note")


@pytest.mark.django_db
def test_clean_text_goes_on_the_timeline_as_written(staff_actor, now, person):
    recorded = services.guard_and_record_interaction(
        actor=staff_actor("sales"),
        now=now,
        person_id=person.pk,
        kind="call",
        direction="inbound",
        summary="Wants an offer for 40 licences; call back on +47 412 34 567.",
    )
    assert not recorded.quarantined
    assert recorded.interaction.summary.startswith("Wants an offer")
    assert not QuarantinedText.objects.exists()
    assert not AuditEntry.objects.filter(action="quarantine").exists()


@pytest.mark.django_db
def test_a_held_inbound_contact_still_moves_the_retention_clock(staff_actor, now, person):
    services.record_interaction(
        actor=staff_actor("sales"),
        now=now,
        person_id=person.pk,
        kind="email",
        direction="inbound",
        summary="I am on sick leave next week.",
    )
    person.refresh_from_db()
    assert person.last_contact_at == now
    assert person.retain_reason == "dialogue"


@pytest.mark.django_db
def test_only_the_privacy_officer_sees_the_quarantine_and_the_text_only_when_opened(staff_actor, now, person):
    services.record_interaction(
        actor=staff_actor("sales"),
        now=now,
        person_id=person.pk,
        kind="call",
        direction="inbound",
        summary=f"fnr {FNR}",
    )
    for role in ("sales", "customer_support", "marketing", "administrator"):
        with pytest.raises(PermissionDeniedError):
            selectors.quarantine_for(actor=staff_actor(role), now=now)
    officer = staff_actor("privacy_officer")
    page = selectors.quarantine_for(actor=officer, now=now)
    assert len(page.items) == 1
    item = page.items[0]
    assert item["person_id"] == person.pk
    assert item["findings"] == [{"field": "summary", "kind": "national_id_no", "category": None}]
    assert FNR not in str(item)
    assert "text" not in item
    assert "subject" not in item
    assert not AuditEntry.objects.filter(action="read", subject_type="quarantined_text").exists()

    opened = selectors.open_quarantined_text(actor=officer, now=now, quarantine_id=item["id"])
    assert FNR in opened["text"]
    read = AuditEntry.objects.get(action="read", subject_type="quarantined_text", subject_id=item["id"])
    assert read.actor_user_id == officer.user_id
    assert read.fields == ["subject", "text"]
    with pytest.raises(PermissionDeniedError):
        selectors.open_quarantined_text(actor=staff_actor("sales"), now=now, quarantine_id=item["id"])


@pytest.mark.django_db
def test_the_privacy_officer_releases_a_false_positive_back_onto_the_timeline(staff_actor, now, person):
    interaction = services.record_interaction(
        actor=staff_actor("sales"),
        now=now,
        person_id=person.pk,
        kind="email",
        direction="inbound",
        subject="Gay Street office",
        summary="The new office is at 12 Gay Street.",
    )
    held = QuarantinedText.objects.get(interaction=interaction)
    with pytest.raises(PermissionDeniedError):
        services.release_quarantined_text(actor=staff_actor("sales"), now=now, quarantine_id=held.pk)
    officer = staff_actor("privacy_officer")
    services.release_quarantined_text(actor=officer, now=now, quarantine_id=held.pk)
    interaction.refresh_from_db()
    assert (interaction.subject, interaction.summary) == ("Gay Street office", "The new office is at 12 Gay Street.")
    held.refresh_from_db()
    assert held.released_at == now
    assert held.released_by_id == officer.user_id
    assert (held.subject, held.text) == ("", ""), "no second copy is kept once released"
    assert selectors.quarantine_for(actor=officer, now=now).items == []
    assert len(selectors.quarantine_for(actor=officer, now=now, include_released=True).items) == 1
    assert AuditEntry.objects.filter(action="release", subject_id=held.pk).exists()
    with pytest.raises(NotFoundError):
        services.release_quarantined_text(actor=officer, now=now, quarantine_id=held.pk)


@pytest.mark.django_db
def test_the_privacy_officer_discards_a_true_hit(staff_actor, now, person):
    interaction = services.record_interaction(
        actor=staff_actor("sales"),
        now=now,
        person_id=person.pk,
        kind="call",
        direction="inbound",
        summary="Card 4111 1111 1111 1111 for the deposit",
    )
    held = QuarantinedText.objects.get(interaction=interaction)
    services.discard_quarantined_text(actor=staff_actor("privacy_officer"), now=now, quarantine_id=held.pk)
    assert not QuarantinedText.objects.exists()
    interaction.refresh_from_db()
    assert interaction.summary == services.HELD_SUMMARY
    assert AuditEntry.objects.filter(action="discard", subject_id=held.pk).exists()


@pytest.mark.django_db
def test_erasing_the_person_erases_the_held_text(system_actor, staff_actor, now, person):
    services.record_interaction(
        actor=staff_actor("sales"),
        now=now,
        person_id=person.pk,
        kind="call",
        direction="inbound",
        summary=f"fnr {FNR}",
    )
    result = erase_person(actor=system_actor, now=now, person_id=person.pk, reason="request")
    assert result.erased
    assert not QuarantinedText.objects.exists()
    assert not Interaction.objects.exists()
    assert not Person.objects.exists()
