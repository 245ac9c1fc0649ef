"""Bounces (RFC 3464) and complaints (RFC 5965) in RFC 822 form, through the API and the
command line: a permanent failure or a complaint suppresses the address, and no later send
reaches it; a temporary failure suppresses nothing; anything else is refused."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tillit.consent import selectors as consent_selectors
from tillit.marketing import selectors, services
from tillit.marketing.models import DeliveryNotice, SendRecord
from tillit.marketing.tasks import send_campaign

from .conftest import campaign_values

pytestmark = pytest.mark.django_db


def dsn(recipient: str, *, status: str = "5.1.1", action: str = "failed", message_id: str = "<x@avara.no>") -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        "To: post@avara.no\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Avara AS <post@avara.no>\r\nTo: {recipient}\r\nMessage-ID: {message_id}\r\nSubject: News\r\n"
        "--B--\r\n"
    ).encode()


def arf(recipient: str, message_id: str = "<x@avara.no>") -> bytes:
    return (
        "From: Feedback Loop <fbl@isp.example.net>\r\n"
        "To: post@avara.no\r\n"
        "Subject: Abuse report\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n'
        "\r\n--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: SomeISP/1.0\r\nVersion: 1\r\n"
        f"Original-Rcpt-To: {recipient}\r\n"
        "--F\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: Avara AS <post@avara.no>\r\nTo: {recipient}\r\nMessage-ID: {message_id}\r\n"
        "Subject: News\r\n\r\nHello\r\n"
        "--F--\r\n"
    ).encode()


@pytest.fixture
def sent(system_actor, now, subscribe, smtp_server):
    readers = [subscribe(f"reader{n}@example.com") for n in range(3)]
    campaign = services.create_campaign(actor=system_actor, now=now, values=campaign_values())
    services.start_campaign(actor=system_actor, now=now, campaign_id=campaign.pk)
    send_campaign.call(campaign.pk)
    return campaign, readers


def test_a_hard_bounce_suppresses_the_address_and_marks_the_send(api_as, sent, system_actor, now, smtp_server):
    campaign, readers = sent
    record = SendRecord.objects.get(person=readers[0])
    response = api_as("marketing").generic(
        "POST",
        "/api/marketing/delivery-notices",
        dsn("Reader0@example.com", message_id=record.message_id),
        content_type="message/rfc822",
    )
    assert response.status_code == 201, response.content
    assert response.json() == {"kind": "bounce", "status": "5.1.1", "suppressed": True, "campaign_id": campaign.pk}
    assert consent_selectors.is_suppressed(email="reader0@example.com")
    assert SendRecord.objects.get(pk=record.pk).status == "bounced"
    notice = DeliveryNotice.objects.get()
    assert "reader0" not in notice.digest
    assert notice.campaign_id == campaign.pk

    second = services.create_campaign(actor=system_actor, now=now, values=campaign_values(name="December"))
    assert selectors.audience_count(actor=system_actor, campaign_id=second.pk).total == 2
    smtp_server.messages.clear()
    services.start_campaign(actor=system_actor, now=now, campaign_id=second.pk)
    send_campaign.call(second.pk)
    assert sorted(m.envelope_to[0] for m in smtp_server.messages) == ["reader1@example.com", "reader2@example.com"]


def test_a_complaint_suppresses_the_address(api_as, sent):
    response = api_as("marketing").generic(
        "POST", "/api/marketing/delivery-notices", arf("reader1@example.com"), content_type="message/rfc822"
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "complaint"
    assert consent_selectors.is_suppressed(email="reader1@example.com")


def test_a_temporary_failure_suppresses_nothing(system_actor, now, sent):
    result = services.record_delivery_notice(
        actor=system_actor, now=now, raw=dsn("reader2@example.com", status="4.2.2", action="delayed")
    )
    assert (result.kind, result.status, result.suppressed) == ("bounce", "4.2.2", False)
    assert not consent_selectors.is_suppressed(email="reader2@example.com")


def test_anything_else_is_refused_with_a_message_and_nothing_stored(api_as, sent):
    client = api_as("marketing")
    for raw in (b"", b"From: a@example.com\r\nSubject: hello\r\n\r\nJust a letter.\r\n", b"\xff\xfe garbage"):
        response = client.generic("POST", "/api/marketing/delivery-notices", raw, content_type="message/rfc822")
        assert response.status_code == 422
        assert response.json()["field"] == "message"
    assert (
        api_as("sales")
        .generic("POST", "/api/marketing/delivery-notices", arf("reader1@example.com"), content_type="message/rfc822")
        .status_code
        == 403
    )
    assert not DeliveryNotice.objects.exists()


def test_the_command_takes_notices_from_files(tmp_path, sent, capsys):
    good, bad = tmp_path / "bounce.eml", tmp_path / "letter.eml"
    good.write_bytes(dsn("reader2@example.com"))
    bad.write_bytes(b"Subject: hello\r\n\r\nhi\r\n")
    call_command("delivery_notice", str(good))
    assert "bounce 5.1.1: address suppressed" in capsys.readouterr().out
    assert consent_selectors.is_suppressed(email="reader2@example.com")
    with pytest.raises(CommandError, match="1 of 1 messages were not taken"):
        call_command("delivery_notice", str(bad))


@pytest.mark.django_db(transaction=True)
def test_the_command_reads_standard_input_and_exits_non_zero_on_a_bad_message(tillit_env):
    ok = subprocess.run(
        [sys.executable, "-m", "tillit.cli.main", "delivery_notice"],
        input=arf("someone@example.com"),
        env=tillit_env,
        capture_output=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert b"complaint abuse: address suppressed" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "tillit.cli.main", "delivery_notice"],
        input=b"hello",
        env=tillit_env,
        capture_output=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert b"not a bounce" in bad.stderr
