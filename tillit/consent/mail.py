"""Emails of the consent app: the updated privacy notice (§14). Every email carries the link
to the person's consent page, the controller's identity and contact point (from the policy)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from tillit import policy
from tillit.consent.links import consent_page_url, privacy_notice_url


def notice_update_message(
    *, email: str, name: str, language: str, pseudonym: str, purposes: list[str]
) -> EmailMultiAlternatives:
    """The email that tells a person about new purposes before they are used for them."""
    current = policy.current()
    language = language if language in current.languages else current.default_language
    context = {
        "name": name,
        "purposes": [current.purposes[p].label.get(language, current.purposes[p].label["en"]) for p in purposes],
        "notice_url": privacy_notice_url(language),
        "consent_url": consent_page_url(pseudonym),
        "controller": current.controller,
    }
    with translation.override(language):
        subject = render_to_string("consent/email/notice_update_subject.txt", context).strip()
        text = render_to_string("consent/email/notice_update.txt", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[email])
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    return message
