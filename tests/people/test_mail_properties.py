"""Property tests for the RFC 822 parser (issue: hardening): whatever bytes arrive, the parser
answers with a parsed message or a ValidationError naming the reason, never another
exception, and what it returns is clean (addresses normalised, one-line subject)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tillit.core.errors import ValidationError
from tillit.people.mail import parse_message

HEADER_NAMES = st.sampled_from(["From", "To", "Cc", "Subject", "Date", "Content-Type", "Content-Transfer-Encoding"])
HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "Kari Nordmann <kari@example.com>",
            "=?utf-8?b?S2FyaQ==?= <kari@example.com>",
            "undisclosed-recipients:;",
            "<>",
            'text/html; charset="bogus-charset"',
            'multipart/mixed; boundary="x"',
            "base64",
            "quoted-printable",
            "Tue, 31 Feb 2026 25:61:00 +9999",
        ]
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_a_message_or_a_clear_error(raw):
    problem = None
    try:
        parse_message(raw)
    except ValidationError as error:
        problem = error
    if problem is not None:
        assert problem.field == "message"
        assert problem.message


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8), st.text(max_size=500))
def test_messages_with_hostile_headers_parse_cleanly_or_fail_clearly(headers, body):
    lines = [f"{name}: {value}" for name, value in headers]
    raw = ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8", "surrogateescape")
    try:
        parsed = parse_message(raw)
    except ValidationError:
        return
    assert "@" in parsed.sender
    assert parsed.sender == parsed.sender.lower()
    assert "\n" not in parsed.subject
    assert "\r" not in parsed.subject
    for address in parsed.recipients:
        assert "@" in address
