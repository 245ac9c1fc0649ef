"""Posting a signed JSON document to a recipient's HTTPS endpoint.

The body is signed with HMAC-SHA256 under the recipient's shared secret, over the timestamp and
the body (``<timestamp>.<body>``), so the recipient can check that it came from us, unchanged,
and recently:

    X-Tillit-Timestamp: 1795521600
    X-Tillit-Signature: sha256=<hex>
    X-Tillit-Delivery: <the disclosure's or notice's reference>
    X-Tillit-Kind: disclosure | erasure | correction

Only ``https://`` is used, the host must resolve to public addresses only and the connection
goes to the address that was checked (``tillit.core.outbound``: no server-side request forgery
into our own network), certificates are verified, redirects are not followed, and the answer
must be 2xx within the timeout; anything else is a failure the caller retries. Error
texts name what went wrong without any part of the body.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from tillit.core.errors import ValidationError
from tillit.core.outbound import check_outbound_url

SIGNATURE_HEADER = "X-Tillit-Signature"
TIMESTAMP_HEADER = "X-Tillit-Timestamp"
TIMEOUT_SECONDS = 10


def check_endpoint(url: str, *, field: str = "endpoint_url") -> str:
    """An endpoint URL as stored: https with a host, at most 500 characters ("" for none)."""
    text = (url or "").strip()
    if not text:
        return ""
    if len(text) > 500:
        raise ValidationError("an endpoint URL is at most 500 characters", field=field)
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname:
        raise ValidationError("the endpoint must be an https:// URL", field=field)
    if parts.username or parts.password:
        raise ValidationError("the endpoint must not hold a user name or password", field=field)
    return text


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` under the shared secret."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def is_valid_signature(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    """What a recipient does with our request (and our tests do with theirs)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status: int | None
    error: str  # "" when ok; never holds any part of the body


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to an address approved beforehand (``tillit.core.outbound``), with
    the certificate checked against the host name: a second DNS answer cannot redirect it."""

    def __init__(self, host: str, port: int, address: str, *, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def _context() -> ssl.SSLContext:
    # Tests (and private CAs) name a CA bundle; otherwise the system's trusted roots.
    cafile = getattr(settings, "TILLIT_PARTNER_CA_FILE", None)
    return ssl.create_default_context(cafile=cafile)


def post_signed(*, url: str, secret: str, body: bytes, kind: str, reference: str, timestamp: int) -> PostResult:
    """POST ``body`` (JSON) to ``url``, signed. Never raises for a failure of the other side."""
    try:
        approved = check_outbound_url(
            url, allow_internal=bool(getattr(settings, "TILLIT_PARTNER_ALLOW_INTERNAL", False))
        )
    except ValidationError as error:
        return PostResult(False, None, f"the endpoint {error.message}")
    parts = urlsplit(approved.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "tillit (Avara AS)",
        "X-Tillit-Kind": kind,
        "X-Tillit-Delivery": reference,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    timeout = float(getattr(settings, "TILLIT_PARTNER_TIMEOUT", TIMEOUT_SECONDS))
    connection = _PinnedHTTPSConnection(
        approved.host, approved.port, approved.addresses[0], timeout=timeout, context=_context()
    )
    try:
        connection.request("POST", path, body=body, headers=headers)
        status = int(connection.getresponse().status)  # a redirect is a non-2xx answer: never followed
    except TimeoutError:
        return PostResult(False, None, "the endpoint did not answer in time")
    except ssl.SSLError:
        return PostResult(False, None, "the endpoint's certificate could not be verified")
    except (OSError, http.client.HTTPException, ValueError) as error:
        return PostResult(False, None, f"the endpoint could not be reached ({type(error).__name__})")
    finally:
        connection.close()
    if 200 <= status < 300:
        return PostResult(True, status, "")
    return PostResult(False, status, f"the endpoint answered {status}")
