"""Emails on the timeline (policy §16): reading a raw RFC 822 message as forwarded from a
mailbox, and deciding which way it went.

§16: "Relevant information that is provided by phone calls and email exchanges that take place
as part of customer processing is recorded in the customer system." A message is parsed with
Python's ``email`` package into the few things the timeline keeps: the addresses, the subject,
the date, the body as plain text and the *names* of its attachments (never their content).

Pure: no database, no clock. ``parse_message`` raises ``ValidationError(field="message")``
with a reason for anything that is not a usable email, and nothing else, whatever the bytes.
Reasons never repeat an address or any other part of the message.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Final

from tillit.core.errors import ValidationError
from tillit.core.identifiers import email_domain, normalise_email
from tillit.policy.schema import Policy

MAX_MESSAGE_BYTES: Final = 10 * 1024 * 1024
MAX_SUBJECT_LENGTH: Final = 300
MAX_ATTACHMENT_NAME_LENGTH: Final = 200
MAX_ATTACHMENTS_LISTED: Final = 100
# The timeline keeps 20,000 characters; more than that is never read, so a 10 MiB HTML mail
# costs a fraction of a second, not seconds.
MAX_BODY_CHARS: Final = 100_000
MAX_HTML_CHARS: Final = 1_000_000
INBOUND: Final = "inbound"
OUTBOUND: Final = "outbound"
FIELD: Final = "message"

# Control characters other than tab and newline never reach the timeline.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


@dataclass(frozen=True)
class ParsedMessage:
    """What the timeline keeps of one email. Addresses are normalised (lower case, IDNA)."""

    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    date: dt.datetime | None
    body: str
    attachments: tuple[str, ...]

    @property
    def recipients(self) -> tuple[str, ...]:
        """To, Cc and Bcc, each address once, in that order."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.bcc)))


def _invalid(reason: str) -> ValidationError:
    return ValidationError(reason, field=FIELD)


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse a raw RFC 822 / RFC 5322 message (§16). Raises ``ValidationError`` naming the
    reason when it is empty, over 10 MiB, not an email at all, without a From header or
    without a valid sender address."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise _invalid("the message must be the raw email (RFC 822) as bytes")
    data = bytes(raw)
    if not data.strip():
        raise _invalid("the message is empty")
    if len(data) > MAX_MESSAGE_BYTES:
        raise _invalid(f"the message is larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB")
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(data)
    except Exception:  # the email package is lenient, but hostile input can still break it
        raise _invalid("not an email message: it could not be parsed") from None
    if not isinstance(message, EmailMessage) or not message.keys():
        raise _invalid("not an email message: no mail headers were found")
    if "From" not in message:  # the name only: reading the value already runs the header parser
        raise _invalid("the message has no From header")
    senders = _addresses(message, "From")
    if not senders:
        raise _invalid("the From header holds no valid email address")
    body_part, body = _body(message)
    return ParsedMessage(
        sender=senders[0],
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        bcc=_addresses(message, "Bcc"),
        subject=_subject(message),
        date=_date(message),
        body=body,
        attachments=tuple(_attachment_names(message, body_part)),
    )


def _addresses(message: Message, name: str) -> tuple[str, ...]:
    """The valid addresses in every ``name`` header, normalised, each once; invalid ones are
    left out (a broken Cc does not make the message unusable)."""
    found: list[str] = []
    try:
        headers = message.get_all(name) or []
        specs = [address.addr_spec for header in headers for address in getattr(header, "addresses", ())]
    except Exception:  # a malformed header can raise from deep inside the header parser
        return ()
    for spec in specs:
        try:
            found.append(normalise_email(spec, field=FIELD))
        except ValidationError:
            continue
    return tuple(dict.fromkeys(found))


def _one_line(value: str) -> str:
    return " ".join(_CONTROL.sub(" ", value).split())


def _subject(message: Message) -> str:
    try:
        value = message.get("Subject")
        text = "" if value is None else str(value)
    except Exception:  # an undecodable encoded word
        return ""
    return _one_line(text)[:MAX_SUBJECT_LENGTH]


def _date(message: Message) -> dt.datetime | None:
    """The Date header as an aware datetime; ``-0000`` (unknown zone) is read as UTC, and a
    missing or unreadable date is None (the caller uses the upload time)."""
    try:
        value = message.get("Date")
        if value is None:
            return None
        moment = parsedate_to_datetime(str(value))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        moment.astimezone(dt.UTC)  # out-of-range offsets fail here, not later
    except Exception:  # parsedate_to_datetime raises ValueError, TypeError, IndexError, OverflowError...
        return None
    return moment


def _body(message: EmailMessage) -> tuple[Message | None, str]:
    """The body as plain text (at most ``MAX_BODY_CHARS``): text/plain if there is one, else
    text/html stripped to text."""
    for kind in ("plain", "html"):
        try:
            part = message.get_body(preferencelist=(kind,))
        except Exception:  # a broken MIME structure
            part = None
        if part is not None:
            text = _decoded(part)
            text = html_to_text(text[:MAX_HTML_CHARS]) if kind == "html" else text[: MAX_BODY_CHARS * 2]
            return part, _clean_text(text)[:MAX_BODY_CHARS]
    return None, ""


def _decoded(part: Message) -> str:
    try:
        content = part.get_content() if isinstance(part, MIMEPart) else None
    except Exception:  # an unknown charset or a broken transfer encoding: decode it ourselves
        content = None
    if isinstance(content, str):
        return content
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        return ""
    return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""


def _clean_text(text: str) -> str:
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _attachment_names(message: Message, body_part: Message | None) -> Iterator[str]:
    """The file names of the attachments (and of inline files such as a logo), never their
    content; a path in a name is cut to its last part."""
    count = 0
    try:
        parts = list(message.walk())
    except Exception:
        return
    for part in parts:
        if part is body_part or part.is_multipart():
            continue
        try:
            disposition, filename = part.get_content_disposition(), part.get_filename()
        except Exception:  # an undecodable name: still an attachment, without its name
            disposition, filename = "attachment", ""
        if filename is None and disposition != "attachment":
            continue
        name = _one_line(re.split(r"[\\/]", str(filename or ""))[-1])[:MAX_ATTACHMENT_NAME_LENGTH]
        yield name or "unnamed attachment"
        count += 1
        if count >= MAX_ATTACHMENTS_LISTED:
            return


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML body: no scripts, styles or head; a line break
    for every block element."""

    _SKIP: Final = frozenset({"script", "style", "head", "title", "template"})
    _BLOCK: Final = frozenset(
        {"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML email body, one line per block."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # HTMLParser raises AssertionError on some broken markup
        return re.sub(r"<[^>]*>", " ", html)
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).split("\n"))
    return "\n".join(lines)


def timeline_text(message: ParsedMessage, *, max_length: int = 20_000) -> str:
    """The summary the timeline keeps: the body, cut to fit, and a footer naming the
    attachments ("Attachments: offer.pdf, logo.png")."""
    footer = f"\n\nAttachments: {', '.join(message.attachments)}"[: max_length // 10] if message.attachments else ""
    room = max_length - len(footer)
    body = message.body
    if len(body) > room:
        marker = "\n[…]"
        body = body[: room - len(marker)].rstrip() + marker
    return (body + footer).strip()


def own_domains(policy: Policy) -> frozenset[str]:
    """Our own mail domains: the domain of the controller's contact address (§1, §3)."""
    return frozenset({email_domain(policy.controller.email.lower())})


def is_own_address(address: str, domains: Iterable[str]) -> bool:
    """Whether a normalised address is ours (the domain or a subdomain of it)."""
    domain = email_domain(address)
    return any(domain == own or domain.endswith("." + own) for own in domains)


def direction_of(message: ParsedMessage, domains: Iterable[str]) -> str:
    """Outbound when we sent it (the sender's domain is ours), otherwise inbound (§9, §16:
    an inbound reply is contact the person took part in; our own outbound mail is not)."""
    return OUTBOUND if is_own_address(message.sender, domains) else INBOUND
