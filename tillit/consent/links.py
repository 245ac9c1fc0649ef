"""Signed links to a person's own pages (consent and preferences), for every email we send."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from tillit.core.tokens import make_token

CONSENT_LINK_USE = "consent"
CONSENT_LINK_DAYS = 365


def consent_page_url(pseudonym: str) -> str:
    """The absolute URL of a person's consent page (signed, valid for a year, no login)."""
    path = reverse("consent:page", args=[make_token(CONSENT_LINK_USE, {"p": str(pseudonym)})])
    return settings.TILLIT_PUBLIC_URL + path


def privacy_notice_url(language: str) -> str:
    return f"{settings.TILLIT_PUBLIC_URL}/privacy?lang={language}"
