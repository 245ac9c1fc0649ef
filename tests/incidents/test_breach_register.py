"""The breach register (GDPR art. 33-34): the privacy officer records a breach, the 72-hour
clock shows the deadline, the time left and an overdue notification (travelling in time); the
notification to Datatilsynet is recorded once, and a late one only with its reasons; the
people affected are found from the audit log and the disclosure ledger, set-based, and an
erasure removes a person from the set; only the privacy officer may use any of it."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tillit.audit.models import AuditEntry
from tillit.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from tillit.incidents import selectors, services
from tillit.incidents.models import AffectedPerson
from tillit.people import selectors as people_selectors
from tillit.people import services as people
from tillit.people.models import Person
from tillit.retention import services as retention

from ..conftest import disclose_to_a_partner

pytestmark = pytest.mark.django_db
AWARE = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
FACTS = {
    "title": "Laptop stolen from a car",
    "description": "A sales laptop with a call list export on its disk was stolen.",
    "categories": ["name", "email", "phone"],
    "approximate_people": 40,
    "consequences": "Phishing calls or emails that use the names.",
    "measures": "Disk encryption checked; the laptop's sessions and tokens revoked.",
}


def person(name: str, email: str | None, language: str = "en", *, at: dt.datetime = AWARE) -> Person:
    values = {"name": name, "language": language, **({"email": email} if email else {})}
    return people.create_person(actor=_system(), now=at - dt.timedelta(days=30), source="form", values=values)


def _system():  # type: ignore[no-untyped-def]
    from tillit.core.actors import Actor

    return Actor.system("tests")


@pytest.fixture
def officer(staff_actor):  # type: ignore[no-untyped-def]
    return staff_actor("privacy_officer")


@pytest.fixture
def incident(officer):  # type: ignore[no-untyped-def]
    return services.record_incident(actor=officer, now=AWARE + dt.timedelta(hours=1), aware_at=AWARE, **FACTS)


def test_the_clock_runs_for_72_hours_and_then_shows_the_notification_as_overdue(
    incident, officer, staff_client
) -> None:
    def page_at(when: dt.datetime, path: str) -> str:
        with time_machine.travel(when, tick=False):
            response = staff_client("privacy_officer").get(path)
        assert response.status_code == 200
        return response.content.decode()

    page = page_at(AWARE + dt.timedelta(hours=10), f"/incidents/{incident.pk}/")
    assert "62 h 0 min left to notify the supervisory authority" in page
    assert "Overdue" not in page
    shown = selectors.incident(actor=officer, now=AWARE + dt.timedelta(hours=10), incident_id=incident.pk)
    assert (shown["clock"], shown["time_left_seconds"]) == ("running", 62 * 3600)
    assert shown["deadline_at"] == AWARE + dt.timedelta(hours=72)

    later = AWARE + dt.timedelta(hours=75, minutes=30)
    page = page_at(later, f"/incidents/{incident.pk}/")
    assert "Overdue by 3 h 30 min: the supervisory authority has not been notified" in page
    assert 'role="alert"' in page
    assert "Overdue" in page_at(later, "/incidents/")
    assert "Overdue by 3 h 30 min" in page_at(later, f"/incidents/{incident.pk}/report/")


def test_a_late_notification_needs_its_reasons_and_is_recorded_once(officer, incident) -> None:
    later = AWARE + dt.timedelta(hours=80)
    with pytest.raises(ValidationError) as refused:
        services.record_authority_notification(
            actor=officer, now=later, incident_id=incident.pk, notified_at=later, reference="22/01234"
        )
    assert refused.value.field == "late_reason"
    services.record_authority_notification(
        actor=officer,
        now=later,
        incident_id=incident.pk,
        notified_at=later,
        reference="22/01234",
        late_reason="The theft was reported to us over a weekend; the extent was known only on Monday.",
    )
    shown = selectors.incident(actor=officer, now=later + dt.timedelta(days=3), incident_id=incident.pk)
    assert (shown["clock"], shown["late_by_seconds"], shown["authority_reference"]) == (
        "notified_late",
        8 * 3600,
        "22/01234",
    )
    with pytest.raises(ConflictError):
        services.record_authority_notification(
            actor=officer, now=later, incident_id=incident.pk, notified_at=later, reference="again"
        )
    report = selectors.report(actor=officer, now=later, incident_id=incident.pk, language="nb")
    assert report["category_labels"][:1] == ["Navn"]
    actions = list(AuditEntry.objects.filter(subject_type="incident").values_list("action", flat=True))
    assert actions == ["incident_recorded", "incident_authority_notified"]


def test_a_notification_in_time_needs_no_reasons(officer, incident) -> None:
    at = AWARE + dt.timedelta(hours=72)
    services.record_authority_notification(
        actor=officer, now=at, incident_id=incident.pk, notified_at=at, reference="22/01235"
    )
    assert selectors.incident(actor=officer, now=at, incident_id=incident.pk)["clock"] == "notified"


def test_bad_input_is_refused_naming_the_field(officer) -> None:
    for change, field in [
        ({"categories": ["names"]}, "categories"),
        ({"categories": []}, "categories"),
        ({"description": "  "}, "description"),
    ]:
        with pytest.raises(ValidationError) as refused:
            services.record_incident(actor=officer, now=AWARE, aware_at=AWARE, **{**FACTS, **change})
        assert refused.value.field == field
    with pytest.raises(ValidationError) as refused:
        services.record_incident(actor=officer, now=AWARE, aware_at=AWARE + dt.timedelta(hours=1), **FACTS)
    assert refused.value.field == "aware_at"


def test_only_the_privacy_officer_may_use_the_register(staff_actor, incident) -> None:
    for role in ("marketing", "customer_support", "sales", "administrator"):
        actor = staff_actor(role)
        with pytest.raises(PermissionDeniedError):
            selectors.incidents(actor=actor, now=AWARE)
        with pytest.raises(PermissionDeniedError):
            services.record_incident(actor=actor, now=AWARE, aware_at=AWARE, **FACTS)


def test_affected_people_are_found_from_the_audit_log_and_the_disclosure_ledger(officer, incident, staff_actor) -> None:
    kari, per, lise, ola = (
        person("Kari Lest", "kari@example.com"),
        person("Per Eksportert", "per@example.com"),
        person("Lise Delt", "lise@example.com"),
        person("Ola Uberørt", "ola@example.com"),
    )
    support, sales = staff_actor("customer_support"), staff_actor("sales")
    # The support member reads Kari inside the window and Ola before it.
    people_selectors.get_person(actor=support, now=AWARE - dt.timedelta(days=5), person_id=ola.pk)
    people_selectors.get_person(actor=support, now=AWARE - dt.timedelta(hours=5), person_id=kari.pk)
    # Sales exports Per and Kari (the call list export's own path: one "export" entry per person).
    people_selectors.people_among(
        actor=sales,
        now=AWARE - dt.timedelta(hours=3),
        purpose="sales_dialogue",
        among=Person.objects.filter(pk__in=[per.pk, kari.pk]),
        page_size=500,
        action="export",
    )
    # Lise was disclosed to a partner.
    partner = disclose_to_a_partner(officer, sales, AWARE, lise, disclosed_at=AWARE - dt.timedelta(days=2))

    read = selectors.read_by_staff(staff_user_id=support.user_id, since=AWARE - dt.timedelta(days=1), until=AWARE)
    assert set(read.values_list("pk", flat=True)) == {kari.pk}
    [export] = selectors.exports(actor=officer)
    assert (export["people"], export["actor_user_id"]) == (2, sales.user_id)
    assert set(selectors.in_export(export_id=export["export_id"]).values_list("pk", flat=True)) == {per.pk, kari.pk}
    assert set(selectors.disclosed_to_partner(partner_id=partner.pk).values_list("pk", flat=True)) == {lise.pk}
    assert not selectors.disclosed_to_partner(partner_id=partner.pk, since=AWARE - dt.timedelta(days=1)).exists()
    with pytest.raises(NotFoundError):
        selectors.in_export(export_id=AuditEntry.objects.filter(action="read").first().sequence)

    now = AWARE + dt.timedelta(hours=2)
    ask = services.attach_affected
    assert ask(actor=officer, now=now, incident_id=incident.pk, question=selectors.InExport(export["export_id"])) == 2
    read_question = selectors.ReadByStaff(support.user_id, AWARE - dt.timedelta(days=1), AWARE)
    assert ask(actor=officer, now=now, incident_id=incident.pk, question=read_question) == 0  # Kari already in
    assert ask(actor=officer, now=now, incident_id=incident.pk, question=selectors.DisclosedToPartner(partner.pk)) == 1
    attached = {
        row["person_id"]: row["found_by"] for row in selectors.affected(actor=officer, incident_id=incident.pk).items
    }
    assert set(attached) == {kari.pk, per.pk, lise.pk}
    assert attached[lise.pk].startswith(f"partner:{partner.pk}")

    # House rule 17: erasing a person removes them from the set.
    retention.erase_person(actor=_system(), now=now, person_id=per.pk, reason="request")
    assert not AffectedPerson.objects.filter(person_id=per.pk).exists()
    assert selectors.incident(actor=officer, now=now, incident_id=incident.pk)["affected"] == 2


def test_what_is_found_later_is_added_never_edited_and_goes_into_the_report(officer, incident, staff_client) -> None:
    services.add_update(
        actor=officer, now=AWARE + dt.timedelta(hours=30), incident_id=incident.pk, text="The disk was encrypted."
    )
    with pytest.raises(ValidationError) as refused:
        services.add_update(actor=officer, now=AWARE, incident_id=incident.pk, text=" ")
    assert refused.value.field == "text"
    shown = selectors.incident(actor=officer, now=AWARE + dt.timedelta(hours=31), incident_id=incident.pk)
    assert [u["text"] for u in shown["updates"]] == ["The disk was encrypted."]
    assert shown["description"] == FACTS["description"], "the facts recorded first stay as they were"
    with time_machine.travel(AWARE + dt.timedelta(hours=31), tick=False):
        report = staff_client("privacy_officer").get(f"/incidents/{incident.pk}/report/").content.decode()
        pdf = staff_client("privacy_officer").get(f"/incidents/{incident.pk}/report.pdf")
    for text in ("(a) The nature of the breach", "(b) Contact point", "(c) Likely consequences", "(d) Measures"):
        assert text in report
    assert "The disk was encrypted." in report
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    actions = list(AuditEntry.objects.filter(subject_type="incident").values_list("action", flat=True))
    assert actions == ["incident_recorded", "incident_updated"]


def test_a_breach_unlikely_to_result_in_a_risk_is_not_notified_with_its_reasons_recorded(officer, incident) -> None:
    with pytest.raises(ValidationError) as refused:
        services.record_no_risk(actor=officer, now=AWARE, incident_id=incident.pk, reason="")
    assert refused.value.field == "reason"
    reason = "The laptop's disk was encrypted and its key was not with it."
    services.record_no_risk(actor=officer, now=AWARE + dt.timedelta(hours=5), incident_id=incident.pk, reason=reason)
    with pytest.raises(ConflictError):
        services.record_no_risk(actor=officer, now=AWARE, incident_id=incident.pk, reason="again")
    shown = selectors.incident(actor=officer, now=AWARE + dt.timedelta(hours=100), incident_id=incident.pk)
    assert (shown["clock"], shown["is_late"], shown["no_risk_reason"]) == ("not_required", False, reason)
    report = selectors.report(actor=officer, now=AWARE, incident_id=incident.pk, language="en")
    assert report["no_risk_reason"] == reason
    actions = list(AuditEntry.objects.filter(subject_type="incident").values_list("action", flat=True))
    assert actions == ["incident_recorded", "incident_no_risk"]
