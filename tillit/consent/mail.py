"""Emails of the consent app: the updated privacy notice (§14). Every email carries the link
to the person's consent page, the controller's identity and contact point (from the policy)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format

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


def indirect_notice_message(
    *,
    email: str,
    name: str,
    language: str,
    pseudonym: str,
    source: str,
    obtained_at: dt.datetime,
    categories: tuple[str, ...],
    message_id: str,
) -> EmailMultiAlternatives:
    """The GDPR art. 14 notice to a person whose data we did not get from them: who we are,
    where the data came from and when, which categories, for which purposes, their rights, the
    link to the whole notice (/privacy) and to their own preference page."""
    current = policy.current()
    language = language if language in current.languages else current.default_language

    def label(labels: Any) -> str:
        return str(labels.get(language, labels["en"]))

    with translation.override(language):
        context = {
            "name": name,
            "source": label(current.sources[source].label),
            "obtained_on": date_format(timezone.localtime(obtained_at).date(), "DATE_FORMAT"),
            "categories": [label(current.categories[c].label) for c in categories if c in current.categories],
            "purposes": [label(p.label) for p in current.purposes.values()],
            "notice_url": privacy_notice_url(language),
            "consent_url": consent_page_url(pseudonym),
            "controller": current.controller,
            "authority": current.supervisory_authority,
        }
        subject = render_to_string("consent/email/indirect_notice_subject.txt", context).strip()
        text = render_to_string("consent/email/indirect_notice.txt", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[email])
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    message.extra_headers["Message-ID"] = message_id
    return message


def renewal_message(
    *, email: str, name: str, language: str, pseudonym: str, purpose: str, message_id: str
) -> EmailMultiAlternatives:
    """The one email asking the person to renew a consent that lapses soon (§5,
    ``[consent_lifetime]``): what they agreed to, that it ends unless they renew it, the link to
    their own consent page to keep (or withdraw) it, and that we will not ask again."""
    current = policy.current()
    language = language if language in current.languages else current.default_language
    rule = current.purposes[purpose]
    with translation.override(language):
        context = {
            "name": name,
            "purpose": rule.label.get(language, rule.label["en"]),
            "months": current.consent_lifetime.months[purpose],
            "consent_url": consent_page_url(pseudonym) + f"?lang={language}",
            "notice_url": privacy_notice_url(language),
            "controller": current.controller,
        }
        subject = render_to_string("consent/email/renewal_subject.txt", context).strip()
        text = render_to_string("consent/email/renewal.txt", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[email])
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    message.extra_headers["Message-ID"] = message_id
    return message
