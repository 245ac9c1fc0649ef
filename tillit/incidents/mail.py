"""The art. 34 notice to a person affected by a breach, in their language: what happened, the
categories of their data concerned, the likely consequences, the measures taken, and the
contact point (art. 34(2) with 33(3)(b)-(d)). The breach's own description is the privacy
officer's text as recorded; everything around it is translated."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from tillit import policy


def breach_notice_message(
    *, email: str, name: str, language: str, incident: dict[str, Any], message_id: str
) -> EmailMultiAlternatives:
    current = policy.current()
    language = language if language in current.languages else current.default_language

    def label(key: str) -> str:
        labels = current.categories[key].label
        return str(labels.get(language, labels["en"]))

    context = {
        "name": name,
        "description": incident["description"],
        "categories": [label(c) for c in incident["categories"] if c in current.categories],
        "consequences": incident["consequences"],
        "measures": incident["measures"],
        "controller": current.controller,
        "authority": current.supervisory_authority,
    }
    with translation.override(language):
        subject = render_to_string("incidents/email/breach_notice_subject.txt", context).strip()
        text = render_to_string("incidents/email/breach_notice.txt", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[email])
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    message.extra_headers["Message-ID"] = message_id
    return message
