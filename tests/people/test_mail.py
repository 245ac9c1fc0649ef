"""Emails on the timeline (policy §16): a raw RFC 822 message is parsed with Python's email
package, matched to people by email address only, and stored as an interaction (subject, body
text, direction, attachments' names). An inbound reply counts as contact (§9); our own
outbound mail does not. A malformed message is refused with the reason and nothing is stored."""

from __future__ import annotations

import datetime as dt
import os
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tillit import policy
from tillit.audit.models import AuditEntry
from tillit.core.errors import PermissionDeniedError, ValidationError
from tillit.people import mail, services
from tillit.people.models import Interaction, Person, QuarantinedText
from tillit.policy import retention as retention_rules

SENT_AT = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def inbound_reply(
    *,
    sender: str = "Kari Testesen <Kari.Testesen@Example.com>",
    to: str = "Ola Selger <ola.selger@avara.no>",
    cc: str | None = None,
    subject: str = "Re: Offer for 40 licences",
    body: str = "Thanks for the offer, we accept. Can you start in January?\n\nKari",
    attachments: tuple[tuple[str, bytes], ...] = (("signed-offer.pdf", b"%PDF-1.7 fictional"),),
    sent_at: dt.datetime = SENT_AT,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = "<reply-1@example.com>"
    message.set_content(body)
    for name, content in attachments:
        message.add_attachment(content, maintype="application", subtype="octet-stream", filename=name)
    return bytes(message)


def outbound_offer(*, to: str = "kari.testesen@example.com", cc: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "Ola Selger <ola.selger@avara.no>"
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = "Offer for 40 licences"
    message["Date"] = format_datetime(SENT_AT)
    message.set_content("Dear Kari,\n\nplease find our offer attached.")
    message.add_alternative("<p>Dear Kari,</p><p>please find our offer attached.</p>", subtype="html")
    message.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="offer.pdf")
    message.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="logo.png")
    return bytes(message)


# --- parsing (pure) -----------------------------------------------------------------------


def test_a_realistic_reply_is_parsed_into_what_the_timeline_keeps():
    parsed = mail.parse_message(inbound_reply(cc="Per <per@example.com>, not an address"))
    assert parsed.sender == "kari.testesen@example.com"
    assert parsed.to == ("ola.selger@avara.no",)
    assert parsed.cc == ("per@example.com",), "an invalid address is left out, not fatal"
    assert parsed.subject == "Re: Offer for 40 licences"
    assert parsed.date == SENT_AT
    assert parsed.body.startswith("Thanks for the offer")
    assert parsed.attachments == ("signed-offer.pdf",)
    assert "fictional" not in repr(parsed), "attachment content is never kept"


def test_an_html_only_body_is_stripped_to_text():
    message = EmailMessage()
    message["From"] = "kari@example.com"
    message.set_content(
        "<html><head><style>p{color:red}</style></head><body><p>Hello &amp; welcome</p>"
        "<script>alert(1)</script><div>Line two</div></body></html>",
        subtype="html",
    )
    parsed = mail.parse_message(bytes(message))
    assert parsed.body == "Hello & welcome\n\nLine two"


def test_the_plain_text_alternative_is_preferred_and_attachment_names_listed():
    parsed = mail.parse_message(outbound_offer())
    assert parsed.body == "Dear Kari,\n\nplease find our offer attached."
    assert parsed.attachments == ("offer.pdf", "logo.png")
    assert mail.timeline_text(parsed).endswith("\n\nAttachments: offer.pdf, logo.png")


def test_a_path_in_an_attachment_name_is_cut_and_control_characters_go():
    parsed = mail.parse_message(inbound_reply(attachments=(("../../etc/pass\twd.txt", b"x"),)))
    assert parsed.attachments == ("pass wd.txt",)


def test_an_unreadable_date_is_none_and_an_unknown_zone_is_utc():
    raw = b"From: kari@example.com\r\nDate: the day after tomorrow\r\n\r\nhi"
    assert mail.parse_message(raw).date is None
    raw = b"From: kari@example.com\r\nDate: Fri, 20 Nov 2026 09:30:00 -0000\r\n\r\nhi"
    assert mail.parse_message(raw).date == SENT_AT


def test_a_long_body_is_cut_to_fit_with_the_attachment_footer():
    parsed = mail.parse_message(inbound_reply(body="x" * 30_000))
    text = mail.timeline_text(parsed)
    assert len(text) <= 20_000
    assert text.endswith("Attachments: signed-offer.pdf")
    assert "[…]" in text


def test_a_huge_html_body_is_read_only_as_far_as_the_timeline_needs():
    message = EmailMessage()
    message["From"] = "kari@example.com"
    message.set_content("<p>Hello <b>there</b></p>\n" * 300_000, subtype="html")  # about 8 MiB
    parsed = mail.parse_message(bytes(message))
    assert len(parsed.body) == mail.MAX_BODY_CHARS
    assert parsed.body.startswith("Hello there")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "the message is empty"),
        (b"  \r\n\r\n ", "the message is empty"),
        (os.urandom(0) + bytes(range(256)) * 4, "not an email message"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01", "not an email message"),
        (b"just some words, not a message", "not an email message"),
        (b"To: kari@example.com\r\nSubject: hello\r\n\r\nbody", "no From header"),
        (b"From: Kari Testesen\r\nTo: ola@avara.no\r\n\r\nbody", "no valid email address"),
        (b"From: <>\r\n\r\nbody", "no valid email address"),
        (b"From: 0@\r\n\r\nbody", "no valid email address"),  # the header parser raises IndexError
        (b"From: kari@example.com\r\n\r\n" + b"x" * (10 * 1024 * 1024), "larger than 10 MiB"),
    ],
)
def test_a_malformed_message_is_refused_with_the_reason(raw, reason):
    with pytest.raises(ValidationError) as caught:
        mail.parse_message(raw)
    assert caught.value.field == "message"
    assert reason in caught.value.message


def parse_or_refuse(raw: bytes) -> mail.ParsedMessage | ValidationError:
    """The parsed message, or the ValidationError it was refused with (anything else fails)."""
    try:
        return mail.parse_message(raw)
    except ValidationError as error:
        return error


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_message_raises_nothing_but_validation_error_on_arbitrary_bytes(raw):
    result = parse_or_refuse(raw)
    if isinstance(result, ValidationError):
        assert result.field == "message"


HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Date",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "MIME-Version",
    ]
)
HEADER_VALUES = st.one_of(
    st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=80),
    st.sampled_from(
        [
            b"kari@example.com",
            b'"a, b" <a@example.com>',
            b"=?utf-8?q?=C3=B8?= <x@example.com>",
            b'multipart/mixed; boundary="b"',
            b"text/html; charset=x-unknown",
            b"base64",
            b"quoted-printable",
            b"attachment; filename*=utf-8''%E2%82%AC.pdf",
            b"<>",
            b"@",
            b"=?x?q?",
            b"Fri, 20 Nov 2026 09:30:00 +9999",
            b"Mon, 1 Jan 0001 00:00:00 -2400",
        ]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(headers=[("From", b"0@")], body=b"")
@given(
    st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8),
    st.one_of(st.binary(max_size=500), st.sampled_from([b"--b\r\nContent-Type: text/html\r\n\r\n<p><![x"])),
)
def test_parse_message_never_breaks_on_hostile_headers(headers, body):
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body
    result = parse_or_refuse(raw)
    if isinstance(result, ValidationError):
        assert result.field == "message"
    else:
        assert all(ord(ch) >= 32 or ch in "\t\n" for ch in result.body)
        assert len(result.subject) <= 300


def test_direction_comes_from_our_own_domain_in_the_policy():
    domains = mail.own_domains(policy.current())
    assert domains == frozenset({"avara.no"})
    assert mail.direction_of(mail.parse_message(outbound_offer()), domains) == "outbound"
    assert mail.direction_of(mail.parse_message(inbound_reply()), domains) == "inbound"
    assert mail.is_own_address("ola@sales.avara.no", domains)
    assert not mail.is_own_address("ola@notavara.no", domains)


# --- storing (service) --------------------------------------------------------------------


@pytest.fixture
def kari(system_actor, now):
    """Registered a year ago; the same phone and organisation as Per."""
    org = services.create_organization(
        actor=system_actor, now=now - dt.timedelta(days=365), source="form", values={"name": "Testfirma AS"}
    )
    return services.create_person(
        actor=system_actor,
        now=now - dt.timedelta(days=365),
        source="form",
        values={
            "name": "Kari Testesen",
            "email": "kari.testesen@example.com",
            "phone": "+47 412 34 567",
            "organization_id": org.pk,
        },
    )


@pytest.fixture
def per(system_actor, now, kari):
    return services.create_person(
        actor=system_actor,
        now=now - dt.timedelta(days=365),
        source="form",
        values={
            "name": "Per Testesen",
            "email": "per.testesen@example.com",
            "phone": "+47 412 34 567",
            "organization_id": kari.organization_id,
        },
    )


@pytest.mark.django_db
def test_an_inbound_reply_lands_on_the_sender_and_moves_the_retention_clock(staff_actor, now, kari, per):
    before = Person.objects.get(pk=kari.pk)
    result = services.record_email_message(actor=staff_actor("sales"), now=now, raw=inbound_reply())
    assert result.direction == "inbound"
    assert result.person_ids == (kari.pk,)
    assert result.unmatched_addresses == 0
    assert not result.quarantined

    interaction = Interaction.objects.get(pk=result.interaction_ids[0])
    assert (interaction.person_id, interaction.kind, interaction.direction) == (kari.pk, "email", "inbound")
    assert interaction.subject == "Re: Offer for 40 licences"
    assert interaction.summary.startswith("Thanks for the offer")
    assert interaction.summary.endswith("Attachments: signed-offer.pdf")
    assert interaction.occurred_at == SENT_AT

    after = Person.objects.get(pk=kari.pk)
    assert after.last_contact_at == SENT_AT
    assert after.retain_reason == "dialogue"
    assert after.retain_until == retention_rules.add_years(SENT_AT, 2)
    assert after.retain_until > before.retain_until
    assert not Interaction.objects.filter(person=per).exists(), "same phone and organisation, not the same mail"


@pytest.mark.django_db
def test_our_own_outbound_mail_is_stored_but_does_not_move_the_clock(staff_actor, now, kari, per):
    before = Person.objects.get(pk=kari.pk)
    result = services.record_email_message(
        actor=staff_actor("sales"), now=now, raw=outbound_offer(cc="colleague@avara.no, stranger@example.com")
    )
    assert result.direction == "outbound"
    assert result.person_ids == (kari.pk,)
    assert result.unmatched_addresses == 1, "our own colleague is not counted, the stranger is"
    interaction = Interaction.objects.get(person=kari)
    assert interaction.direction == "outbound"
    assert interaction.summary.endswith("Attachments: offer.pdf, logo.png")
    after = Person.objects.get(pk=kari.pk)
    assert after.last_contact_at == before.last_contact_at is None
    assert (after.retain_until, after.retain_reason) == (before.retain_until, before.retain_reason)
    assert not Interaction.objects.filter(person=per).exists()


@pytest.mark.django_db
def test_an_outbound_mail_to_two_people_lands_on_each(staff_actor, now, kari, per):
    result = services.record_email_message(
        actor=staff_actor("sales"), now=now, raw=outbound_offer(cc="Per <Per.Testesen@example.com>")
    )
    assert set(result.person_ids) == {kari.pk, per.pk}
    assert Interaction.objects.filter(person=kari).count() == Interaction.objects.filter(person=per).count() == 1


@pytest.mark.django_db
def test_a_reply_cc_to_a_colleague_lands_only_on_the_sender(staff_actor, now, kari, per):
    raw = inbound_reply(cc="Per Testesen <per.testesen@example.com>")
    result = services.record_email_message(actor=staff_actor("sales"), now=now, raw=raw)
    assert result.person_ids == (kari.pk,)
    assert not Interaction.objects.filter(person=per).exists()


@pytest.mark.django_db
def test_a_message_that_matches_nobody_is_refused_and_nothing_is_stored(staff_actor, now, kari):
    raw = inbound_reply(sender="Someone Else <someone.else@example.com>")
    with pytest.raises(ValidationError) as caught:
        services.record_email_message(actor=staff_actor("sales"), now=now, raw=raw)
    assert caught.value.field == "message"
    assert "no sender or recipient matches a person" in caught.value.message
    assert "someone.else" not in caught.value.message
    assert not Interaction.objects.exists()
    assert not AuditEntry.objects.filter(subject_type="interaction").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [b"", bytes(range(256)), b"Subject: no sender\r\n\r\nbody"])
def test_a_malformed_upload_stores_nothing(staff_actor, now, kari, raw):
    with pytest.raises(ValidationError):
        services.record_email_message(actor=staff_actor("sales"), now=now, raw=raw)
    assert not Interaction.objects.exists()


@pytest.mark.django_db
def test_a_date_in_the_future_is_read_as_the_upload_time(staff_actor, now, kari):
    raw = inbound_reply(sent_at=now + dt.timedelta(days=3))
    result = services.record_email_message(actor=staff_actor("sales"), now=now, raw=raw)
    assert Interaction.objects.get(pk=result.interaction_ids[0]).occurred_at == now


@pytest.mark.django_db
def test_sensitive_data_in_an_email_is_held_back(staff_actor, now, kari):
    raw = inbound_reply(body="I am sjukskriven this week, call me after.\n\nKari")
    result = services.record_email_message(actor=staff_actor("sales"), now=now, raw=raw)
    assert result.quarantined
    interaction = Interaction.objects.get(pk=result.interaction_ids[0])
    assert interaction.summary == services.HELD_SUMMARY
    assert interaction.subject == "Re: Offer for 40 licences"
    held = QuarantinedText.objects.get(interaction=interaction)
    assert "sjukskriven" in held.text
    assert held.source == "email"
    assert Person.objects.get(pk=kari.pk).last_contact_at == SENT_AT, "the contact still happened"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["marketing", "administrator"])
def test_a_role_without_access_to_correspondence_may_not_upload(staff_actor, now, kari, role):
    with pytest.raises(PermissionDeniedError):
        services.record_email_message(actor=staff_actor(role), now=now, raw=inbound_reply())
    assert not Interaction.objects.exists()
