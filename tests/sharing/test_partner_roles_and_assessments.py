"""Issue 21 parts 5, 6, 8 with the database: a new non-consent purpose is not unlocked without
its art. 6(4) assessment (`tillit notice changes` and `inform` refuse); the records of
processing show the compatibility assessment, the DPIA screening, each partner's role and a
joint controller's arrangement; the notice and the access answer say what a partner is; a
sub-processor change publishes a new notice version."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from tillit import policy
from tillit.consent import selectors as consent_selectors
from tillit.consent.models import NoticeVersion
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError
from tillit.people import services as people
from tillit.people.models import Person
from tillit.public.notice import publish_current, render_notice_texts
from tillit.rights import answers
from tillit.sharing import records, services
from tillit.sharing.models import Partner

from .conftest import NOW

pytestmark = pytest.mark.django_db

ORIGINAL = (
    'original_purposes = ["sales_dialogue", "direct_marketing", "newsletter", "customer_care", "statistics", '
    '"personalisation", "data_subject_rights"]'
)
COMPATIBILITY = """
[compatibility.cmp-direct-marketing-2026]
title = "Compatibility of direct marketing by phone with the sales dialogue"
dated = 2026-02-01
link = "Both concern our products offered to the same business contacts."
context = "Business contacts who contacted us expect to hear about our products."
nature = "Business contact data only; no special categories."
consequences = "A call during working hours; stopped at once by an objection."
safeguards = "Objection and suppression list honoured in every call list; access by role."
"""
JOINT = """
[joint_controllers.eventpartner]
section = 11
name = "Eventpartner AS"
agreement_reference = "JCA-2026-04"
agreement_dated = 2026-04-01

[joint_controllers.eventpartner.essence]
en = "We run events together; each of us answers requests about its own attendee list."
sv = "Vi ordnar evenemang tillsammans; var och en besvarar begäranden om sin egen deltagarlista."
nb = "Vi holder arrangementer sammen; hver av oss besvarer henvendelser om sin egen deltakerliste."
"""
SUB = '{ name = "Hosting provider of 7Sense AS", service = "Servers and backups", country = "NO" }'


@pytest.fixture
def use_policy(settings, tmp_path: Path) -> Iterator[Callable[..., None]]:  # type: ignore[no-untyped-def]
    """Swap in a copy of the policy file with texts replaced and text appended."""
    original = Path(django_settings.TILLIT_POLICY_PATH).read_text(encoding="utf-8")

    def use(*pairs: tuple[str, str], append: str = "") -> None:
        text = original
        for old, new in pairs:
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        path = tmp_path / "avara.toml"
        path.write_text(text + append, encoding="utf-8")
        settings.TILLIT_POLICY_PATH = path
        policy.reset()

    yield use
    policy.reset()


def later_direct_marketing(use_policy: Callable[..., None], *, assessed: bool) -> None:
    """direct_marketing (phone: legitimate interest) as a purpose added after collection. The
    loader refuses it without the assessment, so the unassessed case keeps it among the original
    purposes (a policy that claims so): the notice commands still find it new to people."""
    if not assessed:
        return
    use_policy(
        (ORIGINAL, ORIGINAL.replace('"direct_marketing", ', "")),
        (
            'exceptions = { email = ["existing_customer"] }\n',
            'exceptions = { email = ["existing_customer"] }\ncompatibility = "cmp-direct-marketing-2026"\n',
        ),
        append=COMPATIBILITY,
    )


def person_told_everything_but_direct_marketing(now: dt.datetime) -> Person:
    purposes = [p for p in policy.current().purposes if p != "direct_marketing"]
    old = NoticeVersion.objects.create(
        digest="7" * 64, policy_digest="old", published_at=now - dt.timedelta(days=4000), purposes=purposes, texts={}
    )
    person = people.create_person(
        actor=Actor.system("tests"), now=now, source="form", values={"name": "Per Test", "email": "per@example.com"}
    )
    Person.objects.filter(pk=person.pk).update(notice_version=old)
    return person


@pytest.mark.parametrize("action", ["changes", "inform"])
def test_a_new_purpose_not_on_consent_is_not_unlocked_without_its_assessment(now, action, smtp_server):  # type: ignore[no-untyped-def]
    person = person_told_everything_but_direct_marketing(now)
    with pytest.raises(CommandError) as refused:
        call_command("notice", action, stdout=StringIO())
    assert "purpose 'direct_marketing' is new to 1 people" in str(refused.value)
    assert "purposes.direct_marketing.compatibility" in str(refused.value)
    assert smtp_server.messages == []
    assert consent_selectors.people_to_inform().filter(pk=person.pk).exists(), "nobody was told, nothing unlocked"


def test_with_its_assessment_the_new_purpose_is_counted_and_informed(now, use_policy, smtp_server, immediate_tasks):  # type: ignore[no-untyped-def]
    later_direct_marketing(use_policy, assessed=True)
    person_told_everything_but_direct_marketing(now)
    out = StringIO()
    call_command("notice", "changes", stdout=out)
    assert "direct_marketing: 1 people" in out.getvalue()
    call_command("notice", "inform", stdout=StringIO())
    assert [m["To"] for m in smtp_server.messages] == ["per@example.com"]


def test_the_records_show_the_compatibility_assessment_and_the_dpia_screening(use_policy, staff_client):  # type: ignore[no-untyped-def]
    later_direct_marketing(use_policy, assessed=True)
    record = records.records_of_processing(now=NOW)
    marketing = next(a for a in record["activities"] if a["key"] == "direct_marketing")
    assert marketing["original"] is False
    assert marketing["compatibility"]["dated"] == dt.date(2026, 2, 1)
    factors = [f["factor"] for f in marketing["compatibility"]["factors"]]
    assert [f[:3] for f in factors] == ["(a)", "(b)", "(c)", "(d)", "(e)"]
    assert marketing["impact_assessment"]["reference"] == "AVARA-PRIV-2026-03"
    personalisation = next(a for a in record["activities"] if a["key"] == "personalisation")
    assert personalisation["impact_assessment"]["kind"] == "screening"
    assert personalisation["compatibility"] is None

    client = staff_client("privacy_officer")
    page = client.get(reverse("web:records")).content.decode()
    assert "Compatibility assessment (GDPR art. 6(4))" in page
    assert "Objection and suppression list honoured in every call list" in page
    assert "Screening: no impact assessment needed (GDPR art. 35)" in page
    assert "AVARA-PRIV-2026-03" in page
    as_json = client.get(reverse("web:records-json")).json()
    marketing_json = next(a for a in as_json["activities"] if a["key"] == "direct_marketing")
    assert marketing_json["compatibility"]["dated"] == "2026-02-01"
    assert marketing_json["impact_assessment"]["kind"] == "screening"
    assert client.get(reverse("web:records-pdf")).content.startswith(b"%PDF")
    # The PDF is rendered from the very HTML above.
    assert "Compatibility assessment (GDPR art. 6(4))" in records.render_html(record)

    # In Swedish, the words are Swedish.
    sv = records.render_html(records.records_of_processing(now=NOW, language="sv"))
    from django.utils import translation

    with translation.override("sv"):
        sv = records.render_html(records.records_of_processing(now=NOW, language="sv"))
    assert "Bedömning av förenlighet (GDPR art. 6.4)" in sv
    assert "Förhandsbedömning: ingen konsekvensbedömning behövs" in sv


def test_a_partner_is_classified_and_a_joint_controller_needs_its_arrangement(use_policy, officer, staff_client):  # type: ignore[no-untyped-def]
    values = {
        "key": "eventpartner",
        "name": "Eventpartner AS",
        "contact_email": "privacy@eventpartner.example.com",
        "agreement_reference": "JCA-2026-04",
        "agreement_dated": "2026-04-01",
        "role": "joint_controller",
    }
    with pytest.raises(ValidationError) as refused:
        services.register_partner(actor=officer, now=NOW, values=values)
    assert refused.value.field == "role"
    assert "[joint_controllers.eventpartner]" in refused.value.message
    with pytest.raises(ValidationError) as unknown:
        services.register_partner(actor=officer, now=NOW, values={**values, "role": "friend"})
    assert unknown.value.field == "role"
    with pytest.raises(ValidationError) as not_a_processor:
        services.register_partner(actor=officer, now=NOW, values={**values, "role": "processor"})
    assert "[processors.eventpartner]" in not_a_processor.value.message
    assert not Partner.objects.exists()

    use_policy(append=JOINT)
    joint = services.register_partner(actor=officer, now=NOW, values=values)
    assert joint.role == "joint_controller"
    plain = services.register_partner(
        actor=officer,
        now=NOW,
        values={**values, "key": "plain", "name": "Plain AS", "role": ""},
    )
    assert plain.role == "independent_controller"

    record = records.records_of_processing(now=NOW)
    by_name = {p["name"]: p for p in record["partners"]}
    assert by_name["Eventpartner AS"]["role"] == "joint_controller"
    assert "each of us answers requests" in by_name["Eventpartner AS"]["arrangement"]["essence"]
    assert by_name["Plain AS"]["role_words"].startswith("an independent controller")
    page = staff_client("privacy_officer").get(reverse("web:records")).content.decode()
    assert "Essence of the arrangement (GDPR art. 26(2))" in page

    # The notice publishes the essence of the arrangement (art. 26(2)) in every language.
    texts = render_notice_texts()
    assert "Eventpartner AS and we are joint controllers (GDPR art. 26)" in texts["en"]
    assert "each of us answers requests about its own attendee list" in texts["en"]
    assert "gemensamt personuppgiftsansvariga" in texts["sv"]
    assert "sin egen deltagarlista" in texts["sv"]
    assert "felles behandlingsansvarlige" in texts["nb"]
    assert "is an independent controller" in texts["en"]


def test_the_access_answer_says_what_the_partner_is(use_policy, officer, sales, now):  # type: ignore[no-untyped-def]
    use_policy(append=JOINT)
    joint = services.register_partner(
        actor=officer,
        now=NOW - dt.timedelta(days=30),
        values={
            "key": "eventpartner",
            "name": "Eventpartner AS",
            "contact_email": "privacy@eventpartner.example.com",
            "agreement_reference": "JCA-2026-04",
            "agreement_dated": "2026-04-01",
            "role": "joint_controller",
        },
    )
    person = people.create_person(
        actor=Actor.system("tests"),
        now=NOW - dt.timedelta(days=20),
        source="form",
        values={"name": "Kari Nordmann", "email": "kari@example.com"},
    )
    dialogue = services.open_dialogue(
        actor=sales, now=NOW - dt.timedelta(days=10), partner_id=joint.pk, kind="sales", title="Event 2027"
    )
    services.add_to_dialogue(
        actor=sales, now=NOW - dt.timedelta(days=10), dialogue_id=dialogue.pk, person_ids=[person.pk]
    )
    services.disclose(
        actor=sales,
        now=NOW - dt.timedelta(days=5),
        dialogue_id=dialogue.pk,
        categories=["name", "email"],
        channel="csv",
    )
    answer = answers.access_answer(person_id=person.pk, language="en", now=NOW)
    jsonschema.validate(answer, answers.access_schema(), format_checker=jsonschema.FormatChecker())
    [partner] = answer["recipients"]["partners"]
    assert partner["role"] == "joint_controller"
    assert "each of us answers requests" in partner["arrangement"]
    page = answers.render_access_html(answer, "en")
    assert "The partner is a joint controller with us (GDPR art. 26)." in page
    sv = answers.access_answer(person_id=person.pk, language="sv", now=NOW)
    assert "sin egen deltagarlista" in sv["recipients"]["partners"][0]["arrangement"]


def test_a_sub_processor_change_publishes_a_new_notice_version(use_policy, now):  # type: ignore[no-untyped-def]
    NoticeVersion.objects.filter(texts={}).delete()
    first = publish_current(now)
    assert not publish_current(now + dt.timedelta(hours=1)).created, "nothing changed, no new version"
    use_policy(
        (
            SUB,
            SUB + ',\n  { name = "Example Backup Inc.", service = "Off-site backups", country = "US", '
            'transfer = "standard_contractual_clauses" }',
        )
    )
    second = publish_current(now + dt.timedelta(days=1))
    assert second.created
    assert second.version.digest != first.version.digest
    assert "Example Backup Inc." in second.version.texts["en"]
    assert "standard contractual clauses" in second.version.texts["en"]
    record = records.records_of_processing(now=now)
    assert [t["name"] for t in record["transfers"]] == ["Example Backup Inc."]
    assert record["transfers"][0]["transfer_words"].startswith("the European Commission's standard contractual")


def test_the_privacy_officer_registers_a_partner_with_its_role_on_the_staff_page(staff_client):  # type: ignore[no-untyped-def]
    client = staff_client("privacy_officer")
    form = {
        "key": "eventpartner",
        "name": "Eventpartner AS",
        "contact_email": "privacy@eventpartner.example.com",
        "agreement_reference": "JCA-2026-04",
        "agreement_dated": "2026-04-01",
        "role": "joint_controller",
    }
    refused = client.post(reverse("web:partners"), form)
    assert refused.status_code == 422
    assert "role: a joint controller needs its arrangement in the privacy policy" in refused.content.decode()
    assert not Partner.objects.exists()
    created = client.post(reverse("web:partners"), {**form, "role": "independent_controller"})
    assert created.status_code == 302
    page = client.get(reverse("web:partners")).content.decode()
    assert "an independent controller: it decides itself how it uses the data it receives" in page


def test_verify_reports_a_joint_controller_whose_arrangement_left_the_policy(use_policy, officer, now):  # type: ignore[no-untyped-def]
    from tillit.sharing import verifier

    use_policy(append=JOINT)
    services.register_partner(
        actor=officer,
        now=NOW,
        values={
            "key": "eventpartner",
            "name": "Eventpartner AS",
            "contact_email": "privacy@eventpartner.example.com",
            "agreement_reference": "JCA-2026-04",
            "agreement_dated": "2026-04-01",
            "role": "joint_controller",
        },
    )
    assert list(verifier.partner_roles()) == []
    use_policy()  # the arrangement is taken out of the policy file
    [violation] = list(verifier.partner_roles())
    assert violation.kind == "partner_role_without_policy"
    assert violation.subject == "partner:eventpartner"
