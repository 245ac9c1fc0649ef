"""Restriction of processing (GDPR art. 18): asked for on the portal (verified like every
request) or registered at the desk; while it holds the person is stored, not used: no call
list, no disclosure to partners, no read by staff except the privacy officer; the retention
deadline runs unless the person asked us to keep the data (grounds (b), (c)); lifting it tells
the person first, by an email in their language sent once; the access answer shows it and
``tillit verify`` reports processing during it."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO

import jsonschema
import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from tillit.audit import services as audit
from tillit.consent import selectors as consent_selectors
from tillit.core.errors import ConflictError, NotFoundError
from tillit.people import restrictions
from tillit.people import selectors as people_selectors
from tillit.people import services as people
from tillit.people.models import Person, Restriction
from tillit.retention import services as retention
from tillit.rights import answers, services
from tillit.rights.models import DataSubjectRequest
from tillit.rights.tasks import expire_unverified_requests
from tillit.sharing import verifier
from tillit.sharing.models import Disclosure

from ..conftest import NOW, disclose_to_a_partner, free_port, partner_dialogue_with

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(now):  # type: ignore[no-untyped-def]
    with time_machine.travel(now, tick=False):
        yield


def make_person(actor, now, n: int, **values):  # type: ignore[no-untyped-def]
    return people.create_person(
        actor=actor,
        now=now,
        source="form",
        values={"name": f"Testperson Nummer{n}", "email": f"testperson{n}@example.com", "phone": f"41234{n:03d}"}
        | values,
    )


def link_path(message) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r"https?://[^/\s]+(/rights/verify/[^\s?]+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def restrict(actor, now, person, grounds="accuracy_contested"):  # type: ignore[no-untyped-def]
    restriction, started = restrictions.restrict_processing(actor=actor, now=now, person_id=person.pk, grounds=grounds)
    assert started
    return restriction


# --- the portal ------------------------------------------------------------------------------


def test_the_portal_offers_restriction_and_names_the_missing_grounds(system_actor, now):
    page = Client().get("/rights").content.decode()
    assert 'value="restriction"' in page
    assert 'name="restriction_grounds"' in page

    response = Client().post("/rights", {"email": "testperson1@example.com", "kind": "restriction"})

    assert response.status_code == 422
    assert 'id="restriction_grounds" name="restriction_grounds" aria-invalid="true"' in response.content.decode()
    assert "Please choose why we should stop using your data." in response.content.decode()
    assert not DataSubjectRequest.objects.exists()


def test_a_restriction_asked_for_on_the_portal_holds_once_the_person_confirms_it(
    system_actor, now, smtp_server, immediate_tasks, staff_actor
):
    person = make_person(system_actor, now, 1)
    client = Client()

    response = client.post(
        "/rights?lang=en",
        {"email": "testperson1@example.com", "kind": "restriction", "restriction_grounds": "accuracy_contested"},
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == 200
    assert restrictions.restriction_in_force(person_id=person.pk) is None, "not before the person confirms"

    path = link_path(smtp_server.messages[-1])
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 200

    restriction = restrictions.restriction_in_force(person_id=person.pk)
    assert restriction is not None
    assert (restriction.grounds, restriction.restricted_at) == ("accuracy_contested", now)
    request = DataSubjectRequest.objects.get()
    assert (request.kind, request.status, request.restriction_grounds) == (
        "restriction",
        "completed",
        "accuracy_contested",
    )
    assert request.outcome["article"] == "18(1)(a)"
    answer = smtp_server.messages[-1].get_content()
    assert "The processing of your data is restricted (GDPR art. 18(1)(a))" in answer
    # Stored, not used: sales no longer find the person, the privacy officer still does.
    with pytest.raises(NotFoundError):
        people_selectors.get_person(
            actor=staff_actor("sales"), now=now, person_id=person.pk, purpose="direct_marketing"
        )
    seen = people_selectors.get_person(
        actor=staff_actor("privacy_officer"), now=now, person_id=person.pk, purpose="data_subject_rights"
    )
    assert seen["email"] == "testperson1@example.com"


def test_the_desk_registers_a_restriction_asked_for_by_phone(
    system_actor, now, staff_client, smtp_server, immediate_tasks
):
    person = make_person(system_actor, now, 2)
    client = staff_client("privacy_officer")
    assert 'name="restriction_grounds"' in client.get("/requests/new/").content.decode()

    response = client.post(
        "/requests/new/",
        {"person_id": person.pk, "kind": "restriction", "channel": "phone", "restriction_grounds": "legal_claims"},
    )

    assert response.status_code == 302
    request = DataSubjectRequest.objects.get()
    assert (request.kind, request.channel, request.restriction_grounds) == ("restriction", "phone", "legal_claims")
    Client().post(link_path(smtp_server.messages[-1]))
    assert restrictions.restriction_in_force(person_id=person.pk).grounds == "legal_claims"
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert 'data-testid="restriction"' in page
    assert "Lift the restriction" in page


# --- while restricted ------------------------------------------------------------------------


def test_a_restricted_person_is_on_no_call_list_and_not_eligible_for_anything_but_their_requests(system_actor, now):
    kept = make_person(system_actor, now, 3)
    restricted = make_person(system_actor, now, 4)
    before = set(consent_selectors.audience(purpose="direct_marketing", channel="phone").values_list("pk", flat=True))
    assert {kept.pk, restricted.pk} <= before

    restrict(system_actor, now, restricted)

    for purpose, channel in (("direct_marketing", "phone"), ("direct_marketing", "email"), ("newsletter", "email")):
        audience = set(consent_selectors.audience(purpose=purpose, channel=channel).values_list("pk", flat=True))
        assert restricted.pk not in audience
        decision = consent_selectors.eligibility(person_id=restricted.pk, purpose=purpose, channel=channel)
        assert (decision.allowed, decision.reason) == (False, "restricted")
    assert kept.pk in set(
        consent_selectors.audience(purpose="direct_marketing", channel="phone").values_list("pk", flat=True)
    )
    answering = consent_selectors.eligibility(person_id=restricted.pk, purpose="data_subject_rights", channel="email")
    assert answering.allowed, "answering the person's own requests is a legal obligation (art. 18(2))"


def test_nobody_restricted_is_disclosed_to_a_partner(system_actor, now, staff_actor):
    from tillit.sharing import services as sharing

    person = make_person(system_actor, now - dt.timedelta(days=40), 5)
    officer, sales = staff_actor("privacy_officer"), staff_actor("sales")
    _, dialogue = partner_dialogue_with(officer, sales, now, person)
    restrict(system_actor, now - dt.timedelta(days=2), person)

    with pytest.raises(ConflictError) as refused:
        sharing.disclose(actor=sales, now=now, dialogue_id=dialogue.pk, categories=["name", "email"], channel="json")

    assert refused.value.code == "not_allowed"
    assert "restricted" in refused.value.message
    assert not Disclosure.objects.exists()


def test_staff_other_than_the_privacy_officer_find_no_restricted_person(system_actor, now, staff_actor):
    person = make_person(system_actor, now, 6)
    restrict(system_actor, now, person)
    marketing = staff_actor("marketing")

    found = people_selectors.search_people(actor=marketing, now=now, purpose="direct_marketing", query="Nummer6")
    assert found.items == []
    assert people_selectors.readable_purposes(actor=marketing, person_id=person.pk) == []
    with pytest.raises(NotFoundError) as missing:
        people_selectors.get_person(actor=marketing, now=now, person_id=person.pk, purpose="direct_marketing")
    assert missing.value.message == people_selectors.NOT_FOUND_MESSAGE, "refused exactly like a missing person"
    officer = people_selectors.search_people(
        actor=staff_actor("privacy_officer"), now=now, purpose="data_subject_rights", query="Nummer6"
    )
    assert [p["id"] for p in officer.items] == [person.pk]


# --- retention -------------------------------------------------------------------------------


def test_the_deadline_runs_unless_the_person_asked_us_to_keep_the_data(system_actor, now):
    checked = make_person(system_actor, now, 7)  # (a): accuracy contested
    for_a_claim = make_person(system_actor, now, 8)  # (c): the person needs it for a legal claim
    restrict(system_actor, now, checked, "accuracy_contested")
    restrict(system_actor, now, for_a_claim, "legal_claims")
    later = now + dt.timedelta(days=3 * 365)

    assert [v.subject for v in verifier.past_deadline(now=later)] == [f"person:{checked.pseudonym}"]
    summary = retention.sweep(actor=system_actor, now=later)

    assert summary.erased == 1
    assert not Person.objects.filter(pk=checked.pk).exists()
    assert Person.objects.filter(pk=for_a_claim.pk).exists(), "kept while restricted under art. 18(1)(c)"

    # Lifted (the person told first), the deadline that passed applies at the next sweep.
    Restriction.objects.filter(person_id=for_a_claim.pk).update(lifted_at=later)
    assert retention.sweep(actor=system_actor, now=later + dt.timedelta(days=1)).erased == 1
    assert not Person.objects.filter(pk=for_a_claim.pk).exists()


# --- lifting tells the person first (art. 18(3)) ---------------------------------------------


def test_lifting_emails_the_person_in_their_language_before_the_lift_takes_effect(
    system_actor, now, staff_actor, smtp_server, immediate_tasks, settings
):
    person = make_person(system_actor, now, 9, language="sv")
    restriction = restrict(system_actor, now - dt.timedelta(days=10), person)
    request = DataSubjectRequest.objects.create(
        kind="restriction",
        status="completed",
        channel="phone",
        received_at=now - dt.timedelta(days=10),
        due_on=now.date(),
        person_pseudonym=person.pseudonym,
        restriction_grounds="accuracy_contested",
    )
    officer = staff_actor("privacy_officer")
    up = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # the mail server is down when the lift is decided

    waits = services.lift_restriction(actor=officer, now=now, request_id=request.pk)

    assert waits
    restriction.refresh_from_db()
    assert restriction.lifted_at is None, "not lifted before the person is told"
    assert restrictions.restriction_in_force(person_id=person.pk) is not None
    assert smtp_server.messages == []
    assert not consent_selectors.eligibility(person_id=person.pk, purpose="direct_marketing", channel="phone").allowed
    # Asking again changes nothing: one email, one Message-ID.
    services.lift_restriction(actor=officer, now=now, request_id=request.pk)
    message_id = Restriction.objects.get(pk=restriction.pk).lift_message_id

    settings.EMAIL_PORT = up
    with time_machine.travel(now + restrictions.LIFT_RETRY, tick=False):
        expire_unverified_requests.call()  # the daily run sends what is due
        expire_unverified_requests.call()

    assert len(smtp_server.messages) == 1
    notice = smtp_server.messages[0]
    assert notice["To"] == "testperson9@example.com"
    assert notice["Message-ID"] == message_id
    assert "begränsningen" in notice["Subject"]
    assert "Sedan 14 november 2026 har vi bara sparat dina uppgifter" in notice.get_content()
    assert "som lagen kräver (GDPR art. 18.3)" in notice.get_content()
    restriction.refresh_from_db()
    assert restriction.lift_notified_at == restriction.lifted_at == now + restrictions.LIFT_RETRY
    assert restrictions.restriction_in_force(person_id=person.pk) is None
    assert consent_selectors.eligibility(person_id=person.pk, purpose="direct_marketing", channel="phone").allowed
    assert restrictions.send_lift_notice(now=now + dt.timedelta(days=1), restriction_id=restriction.pk) is False


def test_a_person_who_asks_again_before_the_email_went_stays_restricted(system_actor, now, staff_actor):
    person = make_person(system_actor, now, 10)
    restriction = restrict(system_actor, now, person)
    restrictions.request_lift(actor=staff_actor("privacy_officer"), now=now, person_id=person.pk)

    again, started = restrictions.restrict_processing(
        actor=system_actor, now=now, person_id=person.pk, grounds="objection_pending"
    )

    assert (again.pk, started) == (restriction.pk, False)
    assert restrictions.send_lift_notice(now=now, restriction_id=restriction.pk) is False
    assert restrictions.restriction_in_force(person_id=person.pk) is not None


def test_only_the_privacy_officer_lifts_and_only_what_is_restricted(system_actor, now, staff_actor):
    person = make_person(system_actor, now, 11)
    request = DataSubjectRequest.objects.create(
        kind="restriction",
        status="completed",
        channel="phone",
        received_at=now,
        due_on=now.date(),
        person_pseudonym=person.pseudonym,
    )
    with pytest.raises(Exception) as denied:
        services.lift_restriction(actor=staff_actor("sales"), now=now, request_id=request.pk)
    assert getattr(denied.value, "status", None) == 403
    with pytest.raises(ConflictError) as nothing:
        services.lift_restriction(actor=staff_actor("privacy_officer"), now=now, request_id=request.pk)
    assert nothing.value.code == "not_restricted"


# --- the access answer and tillit verify -----------------------------------------------------


def nb_words(person) -> str:  # type: ignore[no-untyped-def]
    return answers.access_answer(person_id=person.pk, language="nb", now=NOW)["restriction"]["words"]


def test_the_access_answer_shows_the_restriction(system_actor, now):
    person = make_person(system_actor, now, 12)
    restrict(system_actor, now - dt.timedelta(days=3), person, "objection_pending")

    answer = answers.access_answer(person_id=person.pk, language="en", now=now)

    jsonschema.validate(answer, answers.access_schema())
    assert answer["restriction"]["is_restricted"] is True
    assert answer["restriction"]["history"][0]["article"] == "18(1)(d)"
    assert "restricted since Nov. 21, 2026 (GDPR art. 18(1)(d))" in answer["restriction"]["words"]
    assert "siden 21. november 2026" in nb_words(person)
    html = answers.render_access_html(answer, "en")
    assert "Restriction of processing" in html
    nb = answers.access_answer(person_id=person.pk, language="nb", now=now)
    assert nb["restriction"]["words"] != answer["restriction"]["words"], "in the person's language"
    table = next(t for t in nb["personal_data"] if t["table"] == "people.Restriction")
    assert table["title"] == "Begrensning av behandling"
    assert {f["label"] for f in table["rows"][0]["fields"]} == {"Grunnlag for begrensningen", "Begrenset siden"}


def test_verify_reports_reads_and_disclosures_during_a_restriction(system_actor, now, staff_actor):
    person = make_person(system_actor, now - dt.timedelta(days=40), 13)
    sales, officer = staff_actor("sales"), staff_actor("privacy_officer")
    disclose_to_a_partner(officer, sales, now, person, disclosed_at=now - dt.timedelta(days=2))
    assert not [v for v in verifier.restricted_processing(now=now) if v.kind == "processing_while_restricted"]
    # The live data disagrees with the restriction: it started before that disclosure, and a
    # read by marketing (a path around the gate) happened while it held; the privacy
    # officer's read is allowed (art. 18(2)), and so is what came after the lift.
    Restriction.objects.create(
        person=person, grounds="accuracy_contested", restricted_at=now - dt.timedelta(days=5), lifted_at=now
    )
    during = now - dt.timedelta(days=1)
    marketing = staff_actor("marketing")
    for actor, purpose, at in (
        (marketing, "direct_marketing", during),
        (officer, "data_subject_rights", during),
        (marketing, "direct_marketing", now + dt.timedelta(hours=1)),
    ):
        audit.record(
            actor=actor, now=at, action="read", subject_type="person", subject_id=person.pk, purpose=purpose, fields=[]
        )

    found = [v for v in verifier.violations(now=now) if v.kind == "processing_while_restricted"]

    subjects = sorted(v.subject.split(" ")[0].split(":")[0] for v in found)
    assert subjects == ["audit", "disclosure"]
    assert any("marketing" in v.detail for v in found)
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("verify", stdout=out)
    assert exited.value.code == 1
    printed = [line for line in out.getvalue().splitlines() if line.startswith("processing_while_restricted")]
    assert len(printed) == 2
    assert "Nummer13" not in out.getvalue(), "pseudonymous ids only"


def test_the_privacy_officer_lifts_from_the_request_page_and_the_person_is_told(
    system_actor, now, staff_client, smtp_server, immediate_tasks
):
    person = make_person(system_actor, now, 14, language="nb")
    client = staff_client("privacy_officer")
    client.post(
        "/requests/new/",
        {
            "person_id": person.pk,
            "kind": "restriction",
            "channel": "letter",
            "restriction_grounds": "objection_pending",
        },
    )
    Client().post(link_path(smtp_server.messages[-1]))
    request = DataSubjectRequest.objects.get()
    before = len(smtp_server.messages)

    response = client.post(f"/requests/{request.pk}/lift-restriction/")

    assert response.status_code == 302
    assert len(smtp_server.messages) == before + 1
    notice = smtp_server.messages[-1]
    assert notice["To"] == "testperson14@example.com"
    assert "opphever begrensningen" in notice["Subject"]
    assert restrictions.restriction_in_force(person_id=person.pk) is None
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert 'data-testid="restriction"' not in page, "nothing left to lift"
    shown = answers.access_answer(person_id=person.pk, language="en", now=now)["restriction"]
    assert shown["is_restricted"] is False
    assert [(r["article"], r["lifted_at"] is not None) for r in shown["history"]] == [("18(1)(d)", True)]


def test_the_person_page_tells_the_privacy_officer_and_hides_the_person_from_sales(system_actor, now, staff_client):
    person = make_person(system_actor, now, 15)
    restrict(system_actor, now, person, "unlawful_processing")

    page = staff_client("privacy_officer").get(f"/people/{person.pk}/?purpose=data_subject_rights")

    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="restriction"' in text
    assert "restricted since 2026-11-24 (GDPR art. 18(1)(b))" in text
    assert staff_client("sales").get(f"/people/{person.pk}/?purpose=sales_dialogue").status_code == 404


def test_staff_may_not_change_a_restricted_person_but_the_privacy_officer_may(system_actor, now, staff_actor):
    person = make_person(system_actor, now, 16)
    restrict(system_actor, now, person)

    with pytest.raises(NotFoundError):
        people.update_person(
            actor=staff_actor("sales"),
            now=now,
            person_id=person.pk,
            source="customer_service",
            changes={"position": "CTO"},
            purpose="sales_dialogue",
        )
    people.update_person(
        actor=staff_actor("privacy_officer"),
        now=now,
        person_id=person.pk,
        source="customer_service",
        changes={"position": "CTO"},
        purpose="data_subject_rights",
    )
    assert Person.objects.get(pk=person.pk).position == "CTO"
