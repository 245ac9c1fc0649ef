"""The request desk of the privacy officer: the list with deadlines and warnings, the full
history, requests registered from phone and letters, extensions and refusals emailed to the
person, corrections approved through the people service, and signed PDFs checked by pyHanko."""

from __future__ import annotations

import datetime as dt
import re
from io import BytesIO

import pytest
import time_machine
from asn1crypto import keys as akeys
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.core.files.uploadedfile import SimpleUploadedFile

from tillit.people import services as people
from tillit.people.models import Person, Provenance
from tillit.policy import rights as rule
from tillit.rights import services
from tillit.rights.models import DataSubjectRequest, SignedDocument

from ..conftest import disclose_to_a_partner

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(now):
    with time_machine.travel(now, tick=False):
        yield


@pytest.fixture
def officer(staff_actor):
    return staff_actor("privacy_officer")


def make_person(actor, now, n: int, **values):
    return people.create_person(
        actor=actor,
        now=now,
        source="form",
        values={"name": f"Testperson Nummer{n}", "email": f"testperson{n}@example.com", "phone": f"4123456{n}"}
        | values,
    )


def unsigned_pdf() -> bytes:
    import weasyprint

    return weasyprint.HTML(string="<p>I ask for a copy of my personal data. Testperson Nummer1</p>").write_pdf()


def signed_pdf(content: bytes, common_name: str = "Testperson Nummer1") -> bytes:
    """``content`` signed with a fresh self-signed certificate (pyHanko)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365 * 20))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    a_cert = ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    a_key = akeys.PrivateKeyInfo.load(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    signer = signers.SimpleSigner(
        signing_cert=a_cert, signing_key=a_key, cert_registry=SimpleCertificateStore.from_certs([a_cert])
    )
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(content)), signers.PdfSignatureMetadata(field_name="Signature1"), signer=signer
    )
    return out.getvalue()


def tampered(signed: bytes) -> bytes:
    at = signed.index(b"stream") + 30  # inside the signed byte range
    return signed[:at] + bytes([signed[at] ^ 0xFF]) + signed[at + 1 :]


def register(officer, now, person, kind="access", channel="letter", **extra):
    return services.register_request(actor=officer, now=now, person_id=person.pk, kind=kind, channel=channel, **extra)


def test_a_letter_is_registered_with_its_own_receipt_day_and_a_link_to_the_address_we_hold(
    officer, system_actor, now, smtp_server, immediate_tasks, staff_client
):
    person = make_person(system_actor, now, 1)
    client = staff_client("privacy_officer")
    response = client.post(
        "/requests/new/", {"person_id": person.pk, "kind": "access", "channel": "letter", "received_on": "2026-11-20"}
    )
    assert response.status_code == 302
    request = DataSubjectRequest.objects.get()
    assert request.received_at.date() == dt.date(2026, 11, 20)
    assert request.due_on == dt.date(2026, 12, 20)
    assert [m["To"] for m in smtp_server.messages] == ["testperson1@example.com"]
    page = client.get(f"/requests/{request.pk}/")
    assert page.status_code == 200
    assert b"Verification link sent" in page.content
    assert "(Letter)" in page.content.decode()
    swedish = client.get(f"/requests/{request.pk}/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert "Väntar på verifiering" in swedish, "the status in the staff member's language"
    assert "Verifieringslänk skickad" in swedish
    desk = client.get("/requests/", HTTP_ACCEPT_LANGUAGE="nb").content.decode()
    assert "Venter på bekreftelse" in desk
    assert "awaiting_verification" not in desk


def test_the_desk_lists_deadlines_and_warns_before_they_pass(officer, system_actor, now, staff_client, api_as):
    person = make_person(system_actor, now, 1)
    register(officer, now, person, received_at=now - dt.timedelta(days=26))
    register(officer, now, person, kind="erasure", received_at=now - dt.timedelta(days=40))
    register(officer, now, person, kind="portability")
    client = staff_client("privacy_officer")
    body = client.get("/requests/").content.decode()
    assert body.count('data-state="due_soon"') == 1
    assert body.count('data-state="overdue"') == 1
    assert body.count('data-state="on_time"') == 1
    api = api_as("privacy_officer")
    listing = api.get("/api/rights/requests?which=attention").json()
    assert sorted(r["deadline_state"] for r in listing["items"]) == ["due_soon", "overdue"]
    first = listing["items"][0]
    detail = api.get(f"/api/rights/requests/{first['id']}").json()
    assert [e["kind"] for e in detail["events"]] == ["received"]
    assert api_as("marketing").get("/api/rights/requests").status_code == 403


def test_an_extension_is_emailed_with_its_reason_and_refused_after_the_first_month(
    officer, system_actor, now, smtp_server, immediate_tasks
):
    person = make_person(system_actor, now, 1)
    late = register(officer, now, person, received_at=now - dt.timedelta(days=35))
    with pytest.raises(rule.ExtensionTooLateError):
        services.extend_request(actor=officer, now=now, request_id=late.pk, reason="Many requests")
    request = register(officer, now, person, kind="portability")
    services.extend_request(actor=officer, now=now, request_id=request.pk, reason="Many requests this month")
    request.refresh_from_db()
    assert request.extended_until == dt.date(2027, 2, 24)
    assert "Many requests this month" in smtp_server.messages[-1].get_content()
    assert request.events.filter(kind="extended", note="Many requests this month").exists()


def test_a_refusal_tells_the_person_why_and_about_the_right_to_complain(
    officer, system_actor, now, smtp_server, immediate_tasks
):
    person = make_person(system_actor, now, 1)
    request = register(officer, now, person, details="Repeated for the tenth time")
    services.refuse_request(actor=officer, now=now, request_id=request.pk, reason="Manifestly excessive")
    request.refresh_from_db()
    assert (request.status, request.details) == ("refused", "")
    text = smtp_server.messages[-1].get_content()
    assert "Manifestly excessive" in text
    assert "Datatilsynet" in text


def _correct(officer, now, smtp_server, email: str, field: str, value: str, on_commit=None) -> DataSubjectRequest:
    """A correction proposed on the portal, confirmed from the link and approved at the desk."""
    services.submit_request(
        actor=officer,
        now=now,
        email=email,
        kind="rectification",
        language="en",
        correction_field=field,
        correction_value=value,
    )
    token = re.search(r"/rights/verify/([^/\s]+)/", smtp_server.messages[-1].get_content()).group(1)
    result = services.confirm_verification(actor=officer, now=now, token=token)
    assert result.status == "in_progress"
    request = DataSubjectRequest.objects.get(kind="rectification", status="in_progress")
    if on_commit is None:
        services.decide_correction(actor=officer, now=now, proposal_id=request.corrections.get().pk, approve=True)
    else:
        with on_commit(execute=True):  # deliveries are enqueued when the decision commits
            services.decide_correction(actor=officer, now=now, proposal_id=request.corrections.get().pk, approve=True)
    request.refresh_from_db()
    return request


def test_a_correction_is_approved_through_the_people_service(officer, system_actor, now, smtp_server, immediate_tasks):
    person = make_person(system_actor, now, 1)
    request = _correct(officer, now, smtp_server, "testperson1@example.com", "position", "Head of Purchasing")
    person.refresh_from_db()
    assert person.position == "Head of Purchasing"
    assert Provenance.objects.filter(person=person, field="position", source="customer_service").exists()
    assert request.status == "completed"
    assert request.corrections.get().proposed_value == ""
    # Nobody received this person's data, so there is nobody to tell (art. 19).
    assert "recipients_to_notify" not in request.outcome
    assert not request.events.filter(kind="recipients_notified").exists()
    assert "corrected" in smtp_server.messages[-1].get_content()


def test_partners_that_received_the_corrected_data_are_told_art_19(
    officer, staff_actor, system_actor, now, smtp_server, immediate_tasks, django_capture_on_commit_callbacks
):
    from tillit.sharing.models import RecipientNotice

    sales = staff_actor("sales")
    person = make_person(system_actor, now - dt.timedelta(days=20), 1)
    partner = disclose_to_a_partner(officer, sales, now, person, disclosed_at=now - dt.timedelta(days=5))

    request = _correct(
        officer,
        now,
        smtp_server,
        "testperson1@example.com",
        "name",
        "Testperson Rettetnavn",
        on_commit=django_capture_on_commit_callbacks,
    )
    assert request.outcome["recipients_to_notify"] == ["Fiberpartner AS"]
    assert request.events.filter(kind="recipients_notified", note__contains="Fiberpartner AS").exists()
    notice = RecipientNotice.objects.get(kind="correction", partner=partner)
    assert notice.people == 1
    # Sent through the partner's channel (email here) and retried until acknowledged.
    assert any(m["To"] == "privacy@fiberpartner.example.com" for m in smtp_server.messages)
    answer = [m for m in smtp_server.messages if m["To"] == "testperson1@example.com"][-1].get_content()
    assert "received your data from us" in answer


def test_a_refused_correction_sends_the_reason(officer, system_actor, now, smtp_server, immediate_tasks):
    person = make_person(system_actor, now, 1)
    request = register(officer, now, person, kind="rectification", correction_field="name", correction_value="X")
    DataSubjectRequest.objects.filter(pk=request.pk).update(status="verified")
    proposal = request.corrections.get()
    with pytest.raises(services.ValidationError):
        services.decide_correction(actor=officer, now=now, proposal_id=proposal.pk, approve=False)
    services.decide_correction(
        actor=officer, now=now, proposal_id=proposal.pk, approve=False, reason="Our records match your signed contract"
    )
    assert Person.objects.get().name == "Testperson Nummer1"
    assert "Our records match your signed contract" in smtp_server.messages[-1].get_content()


def test_signed_unsigned_and_tampered_pdfs_are_recorded_as_such(
    officer, system_actor, now, staff_client, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    person = make_person(system_actor, now, 1)
    request = register(officer, now, person, kind="erasure")
    client = staff_client("privacy_officer")
    plain = unsigned_pdf()
    signed = signed_pdf(plain)
    for content in (plain, signed, tampered(signed), b"not a pdf at all"):
        response = client.post(
            f"/requests/{request.pk}/document/",
            {"document": SimpleUploadedFile("letter.pdf", content, content_type="application/pdf")},
        )
        assert response.status_code == 302
    documents = list(SignedDocument.objects.order_by("pk"))
    assert [d.result for d in documents] == ["not_signed", "signed", "tampered", "unreadable"]
    assert documents[1].signer_subject == "Common Name: Testperson Nummer1"
    assert documents[1].signed_at is not None
    assert documents[1].is_trusted is False  # self-signed: staff judge the signer
    assert (tmp_path / documents[1].path).read_bytes() == signed
    # The identity is confirmed from the signed document; the erasure then goes ahead.
    assert client.post(f"/requests/{request.pk}/verify/").status_code == 302
    assert not Person.objects.filter(pk=person.pk).exists()
    documents[1].refresh_from_db()
    assert (documents[1].path, documents[1].signer_subject) == ("", "")  # nothing personal once closed
    assert not any(tmp_path.joinpath("rights").iterdir())


def test_identity_is_not_confirmed_from_an_unsigned_document(officer, system_actor, now, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    person = make_person(system_actor, now, 1)
    request = register(officer, now, person, kind="erasure")
    services.attach_document(actor=officer, now=now, request_id=request.pk, content=unsigned_pdf())
    with pytest.raises(services.ConflictError):
        services.confirm_identity(actor=officer, now=now, request_id=request.pk)
    assert Person.objects.filter(pk=person.pk).exists()


def test_an_oversized_upload_is_refused(officer, system_actor, now, staff_client):
    person = make_person(system_actor, now, 1)
    request = register(officer, now, person)
    big = b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024)
    response = staff_client("privacy_officer").post(
        f"/requests/{request.pk}/document/",
        {"document": SimpleUploadedFile("big.pdf", big, content_type="application/pdf")},
    )
    assert response.status_code == 413
    with pytest.raises(services.ValidationError):
        services.attach_document(actor=officer, now=now, request_id=request.pk, content=big)
    assert SignedDocument.objects.count() == 0


def test_the_privacy_officer_completes_an_erasure_of_an_active_customer(
    officer, system_actor, now, smtp_server, immediate_tasks
):
    person = make_person(system_actor, now, 1)
    people.start_customer_relationship(actor=system_actor, now=now, person_id=person.pk)
    request = register(officer, now, person, kind="erasure", channel="phone")
    token = re.search(r"/rights/verify/([^/\s]+)/", smtp_server.messages[0].get_content()).group(1)
    services.confirm_verification(actor=officer, now=now, token=token)
    request.refresh_from_db()
    assert request.status == "in_progress"
    services.complete_request(actor=officer, now=now, request_id=request.pk)
    request.refresh_from_db()
    assert request.status == "completed"
    assert request.outcome["kept"][0]["hold"] == "bookkeeping"
    assert "Bookkeeping" in smtp_server.messages[-1].get_content()
    assert not Person.objects.filter(pk=person.pk).exists()


def test_other_roles_may_not_use_the_desk(staff_actor, system_actor, now):
    person = make_person(system_actor, now, 1)
    with pytest.raises(services.PermissionDeniedError):
        register(staff_actor("customer_support"), now, person)
