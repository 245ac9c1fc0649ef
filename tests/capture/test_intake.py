"""The form intake queue (``TILLIT_FORM_INTAKE=queued``): the public path validates everything and
writes one row; the drain applies it through the same code as an inline submission, exactly once,
and keeps no personal data in the intake afterwards."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tillit.audit.models import AuditEntry
from tillit.audit.selectors import verify_chain
from tillit.capture import selectors, services, tasks
from tillit.capture.models import Form, FormIntake, FormSubmission
from tillit.consent.models import ConsentEvent
from tillit.core.errors import ValidationError
from tillit.people.models import Interaction, Person, ProductInterest, Provenance

pytestmark = pytest.mark.django_db

VISITOR = services.SUBMITTER


@pytest.fixture
def queued(settings):
    settings.TILLIT_FORM_INTAKE = "queued"
    # The drain task is asked for at most every KICK_SECONDS per process; start each test quiet.
    services._kick.update(at=time.monotonic(), task_id="")


def post_json(client: Client, form: Form, body: object, **extra: str):
    return client.post(
        f"/forms/{form.public_id}/submissions", json.dumps(body), content_type="application/json", **extra
    )


FULL = {
    "name": "Testa Testesen",
    "email": " Testa.Testesen@Example.com ",
    "phone": "412 34 567",
    "organisation": "Fiktiv Båt AS",
    "position": "Buyer",
    "product_interests": ["Boats"],
    "message": "Please call me about boats.",
    "consent_newsletter_email": True,
}


def test_a_queued_submission_is_one_row_until_the_drain_applies_it(client, form, queued, now):
    response = post_json(client, form, FULL, REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT="Firefox/140")
    assert (response.status_code, response.json()) == (201, {"status": "received"})
    row = FormIntake.objects.get()
    assert row.status == "pending"
    assert row.answers["email"] == "testa.testesen@example.com", "validated and normalised before it is stored"
    assert row.ip == "203.0.113.0", "the IP address is shortened at once"
    assert [c["purpose"] for c in row.consents] == ["newsletter"]
    assert row.consents[0]["wording"] == form.consents[0]["wording"], "the exact wording shown"
    assert not Person.objects.exists()
    assert not AuditEntry.objects.filter(subject_type__in=["person", "form_submission"]).exists(), (
        "nothing about a person is read or written in the request"
    )

    later = row.received_at + dt.timedelta(seconds=3)
    assert services.process_intake(actor=VISITOR, now=later) == 1

    assert not FormIntake.objects.exists(), "an applied row is deleted in the drain's transaction"
    person = Person.objects.get()
    assert (person.email, person.phone, person.language) == ("testa.testesen@example.com", "+4741234567", "en")
    assert person.organization.name == "Fiktiv Båt AS"
    assert set(Provenance.objects.filter(person=person).values_list("source", flat=True)) == {"form"}
    submission = FormSubmission.objects.get()
    assert submission.intake_ref == row.pk
    assert submission.submitted_at == row.received_at, "the time the person submitted, not the drain's"
    assert submission.answers["message"] == "Please call me about boats."
    assert submission.answers["consents"] == ["newsletter/email"]
    interaction = Interaction.objects.get(person=person)
    assert (interaction.kind, interaction.direction, interaction.occurred_at) == ("form", "inbound", row.received_at)
    assert list(ProductInterest.objects.filter(person=person).values_list("product", flat=True)) == ["Boats"]
    event = ConsentEvent.objects.get(person=person)
    assert (event.purpose, event.action, event.language, event.wording) == (
        "newsletter",
        "given",
        "en",
        form.consents[0]["wording"],
    )
    assert event.occurred_at == row.received_at, "a withdrawal made after the submission stays the later word"
    assert (event.evidence_ip, event.evidence_user_agent) == ("203.0.113.0", "Firefox/140")
    trail = list(AuditEntry.objects.order_by("sequence").values_list("subject_type", "action", "actor_label"))
    services.submit_form(actor=VISITOR, now=later, public_id=form.public_id, data={**FULL, "email": "o@example.com"})
    inline = list(AuditEntry.objects.order_by("sequence").values_list("subject_type", "action", "actor_label"))
    assert inline[len(trail) :] == trail[-(len(inline) - len(trail)) :], "the same audit trail as an inline submission"
    assert ("form_submission", "create", "data_subject:form") in trail
    assert verify_chain().is_intact
    assert services.process_intake(actor=VISITOR, now=later) == 0
    assert FormSubmission.objects.count() == 2


def test_the_plain_html_post_is_queued_too(client, form, queued):
    response = client.post(
        f"/forms/{form.public_id}/", {"name": "Testa", "email": "testa@example.com", "consent_newsletter_email": "on"}
    )
    assert response.status_code == 303
    assert response["Location"] == f"/forms/{form.public_id}/thanks/"
    assert FormIntake.objects.filter(status="pending").count() == 1
    assert not Person.objects.exists()


def test_the_request_path_is_one_insert(client, form, queued):
    post_json(client, form, {"name": "Warm", "email": "warm@example.com"})  # the form is cached per process
    with CaptureQueriesContext(connection) as queries:
        response = post_json(client, form, FULL)
    assert response.status_code == 201
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements == ["INSERT"], queries.captured_queries


def test_inline_mode_applies_in_the_request(client, form, settings):
    settings.TILLIT_FORM_INTAKE = "inline"
    assert post_json(client, form, FULL).status_code == 201
    assert not FormIntake.objects.exists()
    assert Person.objects.filter(email="testa.testesen@example.com").exists()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "Testa"}, 422, "email"),
        ({"email": "testa@example.com"}, 422, "name"),
        ({"name": "Testa", "email": "not-an-address"}, 422, "email"),
        ({"name": "Testa", "email": "testa@example.com", "phone": "12"}, 422, "phone"),
        ({"name": "T" * 201, "email": "testa@example.com"}, 422, "name"),
        ({"name": "Testa", "email": "testa@example.com", "message": "x" * 5001}, 422, "message"),
        ({"name": "Testa", "email": "testa@example.com", "product_interests": ["Rockets"]}, 422, "product_interests"),
        ({"name": "Testa", "email": "testa@example.com", "shoe_size": 44}, 422, "shoe_size"),
        ({"name": ["Testa"], "email": "testa@example.com"}, 422, "name"),
    ],
)
def test_bad_input_in_queued_mode_is_refused_and_queues_nothing(client, form, queued, body, status, field):
    response = post_json(client, form, body)
    assert (response.status_code, response.json()["field"]) == (status, field)
    assert not FormIntake.objects.exists()


def test_unknown_forms_spam_and_floods_queue_nothing(client, form, queued, settings):
    unknown = client.post(
        "/forms/3f2b1c1e-0000-4000-8000-000000000000/submissions", "{}", content_type="application/json"
    )
    assert unknown.status_code == 404
    page = client.post(f"/forms/{form.public_id}/", {"name": "Testa", "email": "nope"})
    assert page.status_code == 422
    spam = post_json(client, form, {"name": "Bot", "email": "bot@example.com", "website": "x"})
    assert spam.status_code == 201, "the honeypot is answered like a success"
    assert not FormIntake.objects.exists()
    settings.TILLIT_FORM_RATE_PER_MINUTE = 2
    codes = [
        post_json(client, form, {"name": "T", "email": f"t{i}@example.com"}, REMOTE_ADDR="192.0.2.1").status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]
    assert FormIntake.objects.count() == 2


def test_a_form_switched_off_refuses_new_submissions_but_queued_ones_are_applied(
    client, form, queued, staff_actor, now
):
    assert post_json(client, form, {"name": "Testa", "email": "testa@example.com"}).status_code == 201
    services.update_form(
        actor=staff_actor("marketing"),
        now=now,
        form_id=form.pk,
        name=form.name,
        language=form.language,
        fields=form.fields,
        consents=form.consents,
        is_active=False,
    )
    assert post_json(client, form, {"name": "Other", "email": "other@example.com"}).status_code == 404
    assert services.process_intake(actor=VISITOR, now=now) == 1, "the person sent it while the form was shown"
    assert Person.objects.filter(email="testa@example.com").exists()


def test_a_failing_row_is_rejected_without_personal_data_and_the_batch_goes_on(client, form, queued, now):
    for i in range(3):
        body = {"name": f"Testa {i}", "email": f"testa{i}@example.com", "consent_newsletter_email": True}
        assert post_json(client, form, body).status_code == 201
    rows = list(FormIntake.objects.order_by("pk"))
    # What validation cannot foresee: the policy changed between the request and the drain, and
    # the purpose of the ticked box no longer rests on consent.
    broken = rows[1]
    broken.consents = [{"purpose": "sales_dialogue", "channel": "email", "wording": "Yes"}]
    broken.save()
    audit_before = AuditEntry.objects.count()

    assert services.process_intake(actor=VISITOR, now=now) == 2

    assert set(Person.objects.values_list("email", flat=True)) == {"testa0@example.com", "testa2@example.com"}
    assert FormSubmission.objects.count() == 2
    rejected = FormIntake.objects.get()
    assert (rejected.pk, rejected.status, rejected.processed_at) == (broken.pk, "rejected", now)
    assert rejected.error.startswith("invalid (purpose): ")
    assert (rejected.answers, rejected.consents, rejected.ip, rejected.user_agent) == ({}, [], "", "")
    new = list(AuditEntry.objects.order_by("sequence")[audit_before:].values_list("subject_type", "subject_id"))
    assert ("form_intake", broken.pk) in new
    assert sum(1 for kind, _ in new if kind == "form_submission") == 2, "no entries from the rolled-back row"
    assert verify_chain().is_intact
    assert services.process_intake(actor=VISITOR, now=now) == 0, "a rejected row is not tried again"
    assert selectors.intake_counts() == {"pending": 0, "rejected": 1}


def test_the_reason_of_a_rejection_names_no_answer(form, now):
    row = FormIntake.objects.create(
        form=form, received_at=now, answers={"email": "testa@example.com", "name": "Testa Testesen"}, language="en"
    )
    services._reject(
        actor=VISITOR,
        now=now,
        row=row,
        error=ValidationError("not a valid email address: testa@example.com is odd", field="email"),
    )
    row.refresh_from_db()
    assert "testa@example.com" not in row.error
    assert row.error == "invalid (email): not a valid email address: ... is odd"


def test_two_submissions_of_one_new_address_in_a_batch_make_one_person(client, form, queued, now):
    for n in range(3):
        assert post_json(client, form, {"name": f"Testa {n}", "email": "same@example.com"}).status_code == 201
    assert services.process_intake(actor=VISITOR, now=now, limit=2) == 2
    assert services.process_intake(actor=VISITOR, now=now, limit=2) == 1
    assert Person.objects.filter(email="same@example.com").count() == 1
    assert FormSubmission.objects.count() == 3


def test_an_applied_submission_leaves_nothing_for_the_erasure_check_to_find(client, form, queued, now, system_actor):
    """The erasure completeness check searches every text column: the intake must be clean."""
    from tillit.retention import services as retention
    from tillit.retention.selectors import find_identifiers

    assert post_json(client, form, FULL).status_code == 201
    services.process_intake(actor=VISITOR, now=now)
    person = Person.objects.get()
    retention.erase_person(actor=system_actor, now=now, person_id=person.pk, reason="request")
    assert find_identifiers(["testa.testesen@example.com", "Testa Testesen", "+4741234567"]) == []


def test_the_drain_command_once(client, form, queued):
    for i in range(3):
        post_json(client, form, {"name": "Testa", "email": f"testa{i}@example.com"})
    out = io.StringIO()
    call_command("capture", "drain", "--once", "--batch", "2", stdout=out)
    assert "Drained 3 submissions" in out.getvalue()
    assert not FormIntake.objects.exists()
    assert Person.objects.count() == 3
    counts = io.StringIO()
    call_command("capture", "intake", stdout=counts)
    assert counts.getvalue().strip() == "pending: 0, rejected: 0"


@pytest.mark.parametrize(
    ("option", "value"), [("--batch", "0"), ("--idle-seconds", "-1"), ("--busy-share", "0"), ("--busy-share", "1.5")]
)
def test_the_drain_command_refuses_bad_options_in_one_line(option, value):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=option):
        call_command("capture", "drain", "--once", option, value)


def test_the_public_path_asks_for_one_drain_task_while_none_is_waiting(client, form, queued):
    from django_tasks_db.models import DBTaskResult

    services._kick.update(at=-services.KICK_SECONDS, task_id="")
    post_json(client, form, {"name": "Testa", "email": "testa1@example.com"})
    services._kick["at"] = -services.KICK_SECONDS  # as if the pause had passed
    post_json(client, form, {"name": "Testa", "email": "testa2@example.com"})
    waiting = DBTaskResult.objects.filter(task_path__endswith="drain_form_intake")
    assert waiting.count() == 1, "a second task only once the first has run"
    result = tasks.drain_form_intake.call()
    assert result == {"applied": 2}
    assert Person.objects.count() == 2


def test_a_queued_submission_still_links_the_thank_you_page_to_a_personal_download(client, system_actor, now, queued):
    material = services.create_material(
        actor=system_actor, now=now, slug="boat-brochure", title="Boat brochure", url="https://www.example.com/b.pdf"
    )
    form = services.create_form(
        actor=system_actor,
        now=now,
        name="Get the brochure",
        language="en",
        fields=[{"name": "name"}, {"name": "email"}],
        material_id=material.pk,
    )
    response = client.post(f"/forms/{form.public_id}/", {"name": "Testa", "email": "testa@example.com"})
    thanks = client.get(response["Location"])
    link = thanks.content.decode().split('data-testid="download"')[0].rsplit('href="', 1)[1].split('"')[0]
    link = link.replace("&amp;", "&")
    assert link.startswith("/d/boat-brochure/?t=")
    assert "testa" not in link
    client.get(link)
    assert not Interaction.objects.filter(kind="download").exists(), "not applied yet: an anonymous download"
    services.process_intake(actor=VISITOR, now=now)
    client.get(link)
    assert Interaction.objects.filter(kind="download", person__email="testa@example.com").exists()


# --- several drains at once (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED) ---------------------


def _queue(form: Form, now: dt.datetime, n: int) -> None:
    FormIntake.objects.bulk_create(
        FormIntake(
            form=form,
            received_at=now,
            answers={"name": f"Testa {i}", "email": f"testa{i}@example.com"},
            consents=[{"purpose": "newsletter", "channel": "email", "wording": form.consents[0]["wording"]}],
            language="en",
        )
        for i in range(n)
    )


@pytest.mark.django_db(transaction=True)
def test_a_drain_skips_the_rows_another_drain_holds(form, now):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    _queue(form, now, 10)
    held = list(FormIntake.objects.order_by("pk").values_list("pk", flat=True)[:4])
    applied: list[int] = []

    def other_drain() -> None:
        try:
            applied.append(services.process_intake(actor=VISITOR, now=now))
        finally:
            connection.close()

    with transaction.atomic():
        list(FormIntake.objects.filter(pk__in=held).select_for_update())
        worker = threading.Thread(target=other_drain)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the other drain did not wait for the held rows"
    assert applied == [6]
    assert sorted(FormIntake.objects.values_list("pk", flat=True)) == held
    assert services.process_intake(actor=VISITOR, now=now) == 4


@pytest.mark.django_db(transaction=True)
def test_two_drains_in_parallel_apply_every_row_exactly_once(form, now):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    _queue(form, now, 120)
    counts: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def drain(k: int) -> None:
        try:
            barrier.wait()
            while n := services.process_intake(actor=VISITOR, now=now, limit=10):
                counts[k].append(n)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(counts[0]) + sum(counts[1]) == 120
    assert not FormIntake.objects.exists()
    assert FormSubmission.objects.count() == 120
    assert FormSubmission.objects.values("intake_ref").distinct().count() == 120
    assert Person.objects.count() == 120
    assert ConsentEvent.objects.count() == 120
    assert verify_chain().is_intact
