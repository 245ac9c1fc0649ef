"""Forms: staff define them; a submission registers or enriches the person, records the answers,
the contact (which moves the retention clock) and the consents, in one transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from tillit.audit.models import AuditEntry
from tillit.capture import services
from tillit.capture.models import Form, FormSubmission
from tillit.consent.models import ConsentEvent
from tillit.core.actors import Actor
from tillit.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from tillit.people import services as people
from tillit.people.models import Interaction, Person, ProductInterest, Provenance, QuarantinedText

pytestmark = pytest.mark.django_db

VISITOR = Actor(kind="data_subject", role=None, user_id=None, label="data_subject:form")


def submit(form, now, **data):
    return services.submit_form(
        actor=VISITOR,
        now=now,
        public_id=form.public_id,
        data=data,
        sender=services.Sender(ip="203.0.113.77", user_agent="Firefox/140"),
    )


def test_a_form_takes_its_consent_wording_from_the_policy_in_its_language(make_form):
    form = make_form(language="nb")
    wording = {c["purpose"]: c["wording"] for c in form.consents}
    assert "Nyhetsbrev og annet innhold du har valgt å motta" in wording["newsletter"]
    # Who asks, for what, by which channel, and that it can be withdrawn (checklist 9).
    assert wording["newsletter"].startswith("Ja, Avara AS kan bruke opplysningene mine til: ")
    assert "(via e-post)" in wording["newsletter"]
    assert wording["newsletter"].endswith("Jeg kan når som helst trekke tilbake samtykket.")
    labels = {f["name"]: f["label"] for f in form.fields}
    assert labels["email"]
    assert all(f["required"] for f in form.fields if f["name"] in ("name", "email"))


def test_a_form_may_only_ask_for_consent_to_purposes_that_rest_on_consent(make_form):
    with pytest.raises(ValidationError) as error:
        make_form(consents=[{"purpose": "sales_dialogue", "channel": "email"}])
    assert error.value.field == "consents.0.purpose"
    with pytest.raises(ValidationError) as error:
        make_form(fields=[{"name": "name"}, {"name": "shoe_size"}])
    assert error.value.field == "fields.1.name"
    with pytest.raises(ValidationError) as error:
        make_form(fields=[{"name": "name"}])
    assert error.value.field == "fields"
    with pytest.raises(ValidationError) as error:
        make_form(language="de")
    assert error.value.field == "language"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("marketing", True),
        ("sales", True),
        ("privacy_officer", True),
        ("administrator", True),
        ("customer_support", False),
    ],
)
def test_who_may_define_forms_is_the_policys_call(staff_actor, now, role, allowed):
    define = lambda: services.create_form(  # noqa: E731
        actor=staff_actor(role), now=now, name="Contact", language="en", fields=[{"name": "name"}, {"name": "email"}]
    )
    if allowed:
        assert define().pk
    else:
        with pytest.raises(PermissionDeniedError):
            define()


def test_a_submission_registers_the_person_with_answers_contact_and_consents(form, now):
    result = submit(
        form,
        now,
        name="Testa Testesen",
        email=" Testa.Testesen@Example.com ",
        phone="412 34 567",
        organisation="Fiktiv Båt AS",
        position="Buyer",
        product_interests=["Boats"],
        message="Please call me about boats.",
        consent_newsletter_email="on",
    )
    assert result.stored
    assert result.created
    person = Person.objects.get(pk=result.person_id)
    assert (person.email, person.phone, person.language) == ("testa.testesen@example.com", "+4741234567", "en")
    assert person.organization.name == "Fiktiv Båt AS"
    assert person.last_contact_at == now, "a form is contact the person took part in (§9)"
    assert person.retain_reason == "dialogue"
    assert set(Provenance.objects.filter(person=person).values_list("source", flat=True)) == {"form"}
    submission = FormSubmission.objects.get(pk=result.submission_id)
    assert submission.answers["message"] == "Please call me about boats."
    assert submission.answers["consents"] == ["newsletter/email"]
    interaction = Interaction.objects.get(person=person)
    assert (interaction.kind, interaction.direction, interaction.summary) == (
        "form",
        "inbound",
        "Please call me about boats.",
    )
    assert list(ProductInterest.objects.filter(person=person).values_list("product", "status")) == [
        ("Boats", "interested")
    ]
    event = ConsentEvent.objects.get(person=person)
    assert (event.purpose, event.channel, event.action, event.language) == ("newsletter", "email", "given", "en")
    assert event.wording == form.consents[0]["wording"]
    assert event.evidence_ip == "203.0.113.0", "the IP address is shortened"
    assert event.evidence_user_agent == "Firefox/140"
    assert event.source_ref == f"form:{form.public_id}"
    assert AuditEntry.objects.filter(subject_type="form_submission", subject_id=submission.pk).exists()


def test_an_unticked_box_records_no_consent(form, now):
    result = submit(form, now, name="Testa Testesen", email="testa@example.com", consent_newsletter_email="")
    assert not ConsentEvent.objects.filter(person_id=result.person_id).exists()


def test_an_existing_person_is_enriched_and_never_overwritten_silently(form, system_actor, now):
    existing = people.create_person(
        actor=system_actor,
        now=now - dt.timedelta(days=30),
        source="correspondence",
        values={"name": "Testa Testesen", "email": "testa@example.com", "position": "CEO"},
    )
    result = submit(form, now, name="Testa T. Testesen", email="TESTA@example.com", phone="41234567", position="CFO")
    assert not result.created
    assert result.person_id == existing.pk
    existing.refresh_from_db()
    assert existing.phone == "+4741234567", "an empty field is filled in"
    assert (existing.name, existing.position) == ("Testa Testesen", "CEO"), "a different value is not applied"
    notes = set(Provenance.objects.filter(person=existing, source="form").values_list("field", "detail"))
    assert ("phone", f"form:{form.public_id}") in notes
    assert ("name", people.DIFFERING_DETAIL) in notes
    assert ("position", people.DIFFERING_DETAIL) in notes
    answers = FormSubmission.objects.get(pk=result.submission_id).answers
    assert answers["position"] == "CFO", "the offered value stays on the submission for staff to check"
    assert Person.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "Testa"}, "email"),
        ({"email": "testa@example.com"}, "name"),
        ({"name": "Testa", "email": "not-an-address"}, "email"),
        ({"name": "Testa", "email": "testa@example.com", "phone": "12"}, "phone"),
        ({"name": "T" * 201, "email": "testa@example.com"}, "name"),
        ({"name": "Testa", "email": "testa@example.com", "message": "x" * 5001}, "message"),
        ({"name": "Testa", "email": "testa@example.com", "product_interests": ["Rockets"]}, "product_interests"),
        ({"name": ["Testa"], "email": "testa@example.com"}, "name"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(form, now, data, field):
    with pytest.raises(ValidationError) as error:
        submit(form, now, **data)
    assert error.value.field == field
    assert Person.objects.count() == 0
    assert FormSubmission.objects.count() == 0
    assert not AuditEntry.objects.filter(subject_type="form_submission").exists()


def test_an_unknown_or_inactive_form_is_not_found(form, now, system_actor):
    with pytest.raises(NotFoundError):
        services.submit_form(actor=VISITOR, now=now, public_id="not-a-uuid", data={})
    with pytest.raises(NotFoundError):
        services.submit_form(actor=VISITOR, now=now, public_id="3f2b1c1e-0000-4000-8000-000000000000", data={})
    Form.objects.filter(pk=form.pk).update(is_active=False)
    with pytest.raises(NotFoundError):
        submit(form, now, name="Testa", email="testa@example.com")


def test_the_honeypot_looks_like_success_and_stores_nothing(form, now):
    result = submit(form, now, name="Spam Bot", email="bot@example.com", website="http://spam.example.com")
    assert not result.stored
    assert Person.objects.count() == 0
    assert FormSubmission.objects.count() == 0


def test_free_text_with_sensitive_data_is_held_back_everywhere(form, now):
    result = submit(form, now, name="Testa", email="testa@example.com", message="My fødselsnummer is 01010012356")
    assert result.quarantined
    submission = FormSubmission.objects.get(pk=result.submission_id)
    assert "01010012356" not in submission.answers["message"]
    assert "01010012356" not in Interaction.objects.get(person_id=result.person_id).summary
    assert QuarantinedText.objects.get(person_id=result.person_id).text.endswith("01010012356")


def test_an_event_registration_form_has_its_own_source(make_form, now):
    form = make_form(name="Boat show 2026", source="event", consents=[])
    result = submit(form, now, name="Testa", email="testa@example.com")
    assert set(Provenance.objects.filter(person_id=result.person_id).values_list("source", flat=True)) == {"event"}
    with pytest.raises(ValidationError):
        make_form(source="import")


def test_a_submission_writes_its_audit_entries_together_and_the_chain_holds(form, now):
    from tillit.audit.selectors import verify_chain

    before = AuditEntry.objects.count()
    submit(form, now, name="Testa", email="testa@example.com", consent_newsletter_email="on")
    entries = list(AuditEntry.objects.order_by("sequence")[before:].values_list("subject_type", "action"))
    assert entries == [
        ("person", "create"),
        ("interaction", "create"),
        ("person", "dialogue_opened"),  # the request opens a sales dialogue (issue 15)
        ("person", "consent_given"),
        ("form_submission", "create"),
    ]
    submit(form, now, name="Testa", email="testa@example.com", message="Again")
    with pytest.raises(ValidationError):
        submit(form, now, name="Testa", email="bad@")
    report = verify_chain()
    assert report.is_intact, report


@pytest.mark.django_db(transaction=True)
def test_two_submissions_of_a_new_address_at_once_make_one_person(form, now):
    """The second waits on the first's insert, finds the address taken and enriches that person."""
    import threading

    from django.db import connection

    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def send(n: int) -> None:
        try:
            barrier.wait()
            submit(form, now, name=f"Testa {n}", email="same@example.com", message=f"Message {n}")
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Person.objects.filter(email="same@example.com").count() == 1
    assert FormSubmission.objects.count() == 4
    assert Interaction.objects.filter(kind="form").count() == 4


@pytest.mark.parametrize("intake", ["inline", "queued"])
def test_global_privacy_control_with_a_form_is_the_identified_persons_objection(form, settings, intake, now):
    settings.TILLIT_FORM_INTAKE = intake
    answers = {"name": "Kari Nordmann", "email": "kari@example.com", "consent_newsletter_email": "on"}
    assert Client().post(f"/forms/{form.public_id}/", answers, HTTP_SEC_GPC="1").status_code == 303
    answers = {"name": "Ola Nordmann", "email": "ola@example.com"}
    assert Client().post(f"/forms/{form.public_id}/", answers).status_code == 303
    if intake == "queued":
        services.process_intake(actor=VISITOR, now=now)
    kari, ola = Person.objects.get(email="kari@example.com"), Person.objects.get(email="ola@example.com")
    objections = ConsentEvent.objects.filter(person=kari, action="objected")
    assert sorted(objections.values_list("purpose", "source_kind")) == [
        ("partner_sharing", "gpc"),
        ("personalisation", "gpc"),
    ], "GPC from a visitor who identified themselves: an objection by automated means (art. 21(5))"
    assert ConsentEvent.objects.get(person=kari, purpose="newsletter").action == "given", "what they ticked stands"
    assert not ConsentEvent.objects.filter(person=ola, action="objected").exists(), "no GPC, no objection"
