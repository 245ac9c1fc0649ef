"""Log records without identifiers: a logging filter that replaces email addresses and phone
numbers in every record tillit writes (DESIGN.md rules 10 and 17: a log line outlives the
erasure of the person it names, and no erasure reaches it).

It is configured on every handler of ``config/settings.py`` LOGGING (Django's own request
and server logs included) and on gunicorn's access and error logs (``gunicorn.conf.py``).
Identifiers are also found in their URL-encoded forms (``kari%40example.com``,
``%2B47+412+34+567``), because a request line is logged as it arrived.

The message's format string and each argument are redacted separately, so numbers that a
format puts side by side (a status code and a response size) never join into a "phone
number". Names cannot be recognised by a pattern: they are kept out of URLs instead (searches
are POSTed), so no request line carries one.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping
from typing import Any

EMAIL_MARK = "[email]"
PHONE_MARK = "[phone]"

# local part, "@" (or its URL encoding), a domain with a dot and a top-level domain.
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}", re.IGNORECASE)
# 8 to 15 digits (E.164 at most 15; Norwegian and Swedish numbers have at least 8 with the
# area code), optionally after "+", "%2B" or "00", with single spaces, dots, dashes or their URL
# encodings between the digits. Dates (2026-12-03) are left alone.
PHONE = re.compile(
    r"(?<![\w%])(?!\d{4}-\d\d-\d\d)(?:\+|%2B|00)?\d(?:(?:[ .\-+]|%20)?\d){7,14}(?![\w])",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with every email address and phone number replaced by a mark."""
    return PHONE.sub(PHONE_MARK, EMAIL.sub(EMAIL_MARK, text))


def _argument(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


class RedactIdentifiers(logging.Filter):
    """Replaces email addresses and phone numbers in a record's message, its arguments, its
    exception and its stack before any handler formats it. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        else:
            record.msg = _argument(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: _argument(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_argument(value) for value in record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
