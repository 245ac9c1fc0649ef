"""Signed, expiring tokens for links in emails (withdraw, unsubscribe, verify a request).

Each use has its own salt, so a token made for one use is worthless for another. Tokens carry
a pseudonymous id, never an email address or a name (DESIGN.md rule 10).
"""

from __future__ import annotations

from typing import Any

from django.core import signing

from tillit.core.errors import DomainError


class TokenError(DomainError):
    """A link token that is forged, tampered with or for another use."""

    code = "bad_token"
    status = 400


class TokenExpiredError(TokenError):
    code = "token_expired"
    status = 410


def make_token(use: str, payload: dict[str, Any]) -> str:
    return signing.dumps(payload, salt=f"tillit.{use}", compress=True)


def read_token(use: str, token: str, *, max_age_seconds: int | None) -> dict[str, Any]:
    """The payload of a token made for ``use``; raises TokenExpiredError or TokenError.
    ``max_age_seconds=None``: the token never expires (its signature must still hold)."""
    if not token or len(token) > 2000:
        raise TokenError("this link is not valid")
    try:
        payload = signing.loads(token, salt=f"tillit.{use}", max_age=max_age_seconds)
    except signing.SignatureExpired:
        raise TokenExpiredError("this link has expired") from None
    except signing.BadSignature:
        raise TokenError("this link is not valid") from None
    if not isinstance(payload, dict):
        raise TokenError("this link is not valid")
    return payload
