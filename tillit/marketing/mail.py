"""The emails of marketing: the double opt-in confirmation, the link to a person's preference
centre, and campaign messages.

Every marketing email carries (policy §8, regulatory checklist §4): a visible unsubscribe link
and a link to the person's choices at the bottom, the controller's identity and contact point
from the policy, ``List-Unsubscribe`` with an https link and a mailto address (RFC 2369),
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058) and a Message-ID of its own
send record. (RFC 8058 also asks for a DKIM signature covering those headers: that is the
outgoing mail server's job.)

A campaign is rendered once per language (``CampaignTemplate``); each recipient's message is
that text with their own signed links put in, so sending costs no template rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from functools import cached_property
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape, linebreaks

from tillit import policy
from tillit.consent.links import consent_page_url
from tillit.core.tokens import make_token

UNSUBSCRIBE_USE = "unsubscribe"  # an unsubscribe link never expires: an old email's link must still work
CONFIRM_USE = "newsletter-confirm"
CONFIRM_DAYS = 7
# Placeholders in a pre-rendered campaign, replaced per recipient.
_UNSUBSCRIBE = "https://tillit-unsubscribe.invalid/url"
_CHOICES = "https://tillit-choices.invalid/url"
_TO = "tillit-recipient@tillit-to.invalid"
_MESSAGE_ID = "<tillit-message-id@tillit.invalid>"
_LIST_UNSUBSCRIBE = "<https://tillit-list-unsubscribe.invalid/header>"


def _language(language: str) -> str:
    current = policy.current()
    return language if language in current.languages else current.default_language


def own_domain() -> str:
    """The domain of the controller's email address (the policy's contact point)."""
    return policy.current().controller.email.rpartition("@")[2]


def unsubscribe_token(*, pseudonym: str, newsletter: str | None, purpose: str) -> str:
    """The signed token of an unsubscribe link: whom (their pseudonym) and from what (a
    newsletter's key, or a purpose on email). No address or name (DESIGN.md rule 10)."""
    payload: dict[str, Any] = {"p": pseudonym}
    if newsletter:
        payload["l"] = newsletter
    else:
        payload["u"] = purpose
    return make_token(UNSUBSCRIBE_USE, payload)


def unsubscribe_url(token: str) -> str:
    return settings.TILLIT_PUBLIC_URL + reverse("consent:unsubscribe", args=[token])


def unsubscribe_mailto(token: str) -> str:
    return f"mailto:{policy.current().controller.email}?subject={quote('unsubscribe ' + token)}"


def confirmation_url(request_id: int) -> str:
    token = make_token(CONFIRM_USE, {"r": request_id})
    return settings.TILLIT_PUBLIC_URL + reverse("consent:newsletter-confirm", args=[token])


def _footer_context() -> dict[str, Any]:
    return {"controller": policy.current().controller}


def confirmation_message(
    *, email: str, name: str, language: str, request_id: int, newsletter_name: str
) -> EmailMultiAlternatives:
    """The double opt-in email: only the click on its link subscribes."""
    language = _language(language)
    context = {
        "name": name,
        "newsletter": newsletter_name,
        "confirm_url": confirmation_url(request_id),
        "days": CONFIRM_DAYS,
        **_footer_context(),
    }
    with translation.override(language):
        subject = render_to_string("marketing/email/confirm_subject.txt", context).strip()
        text = render_to_string("marketing/email/confirm.txt", context)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[formataddr((name, email))]
    )
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    return message


def preference_link_message(*, email: str, name: str, language: str, pseudonym: str) -> EmailMultiAlternatives:
    """The link to a person's choices, asked for on the preference centre without an email."""
    language = _language(language)
    context = {"name": name, "choices_url": consent_page_url(pseudonym), **_footer_context()}
    with translation.override(language):
        subject = render_to_string("marketing/email/preferences_subject.txt", context).strip()
        text = render_to_string("marketing/email/preferences.txt", context)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[formataddr((name, email))]
    )
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    return message


@dataclass(frozen=True)
class CampaignTemplate:
    """A campaign rendered in one language, with placeholders for each recipient's links."""

    language: str
    subject: str
    text: str
    html: str
    newsletter: str | None
    purpose: str

    def message(self, *, email: str, name: str, pseudonym: str, message_id: str) -> EmailMultiAlternatives:
        """The recipient's message as a Django email (for previews and non-SMTP backends)."""
        token = unsubscribe_token(pseudonym=pseudonym, newsletter=self.newsletter, purpose=self.purpose)
        return self._build(
            to=formataddr((name, email)),
            message_id=message_id,
            list_unsubscribe=f"<{unsubscribe_url(token)}>, <{unsubscribe_mailto(token)}>",
            unsubscribe=unsubscribe_url(token),
            choices=consent_page_url(pseudonym),
        )

    def _build(
        self, *, to: str, message_id: str, list_unsubscribe: str, unsubscribe: str, choices: str
    ) -> EmailMultiAlternatives:
        message = EmailMultiAlternatives(
            subject=self.subject,
            body=self.text.replace(_UNSUBSCRIBE, unsubscribe).replace(_CHOICES, choices),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[to],
            headers={
                "Message-ID": message_id,
                "List-Unsubscribe": list_unsubscribe,
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Precedence": "bulk",
            },
        )
        if self.newsletter:
            message.extra_headers["List-Id"] = f"<{self.newsletter}.lists.{own_domain()}>"
        message.attach_alternative(
            self.html.replace(_UNSUBSCRIBE, escape(unsubscribe)).replace(_CHOICES, escape(choices)), "text/html"
        )
        return message

    @cached_property
    def _raw(self) -> bytes | None:
        """The whole message as bytes, once, with placeholders for what differs per recipient
        (None when the MIME encoding split a placeholder: then each message is built whole)."""
        raw = bytes(
            self._build(
                to=_TO,
                message_id=_MESSAGE_ID,
                list_unsubscribe=_LIST_UNSUBSCRIBE,
                unsubscribe=_UNSUBSCRIBE,
                choices=_CHOICES,
            )
            .message()
            .as_bytes(linesep="\r\n")  # type: ignore[call-arg]
        )
        expected = {
            _UNSUBSCRIBE: self.text.count(_UNSUBSCRIBE) + self.html.count(_UNSUBSCRIBE),
            _CHOICES: self.text.count(_CHOICES) + self.html.count(_CHOICES),
            _TO: 1,
            _MESSAGE_ID: 1,
            _LIST_UNSUBSCRIBE: 1,
        }
        if any(raw.count(placeholder.encode()) != n for placeholder, n in expected.items()):
            return None
        return raw

    def envelope(self, *, email: str, name: str, pseudonym: str, message_id: str) -> tuple[str, list[str], bytes]:
        """(sender, recipients, the message as bytes) for one recipient: the message rendered
        once per language with the recipient's address, links and Message-ID put in, which is
        what lets a worker send hundreds of messages a second."""
        raw = self._raw
        if raw is None or not email.isascii() or not message_id.isascii():
            message = self.message(email=email, name=name, pseudonym=pseudonym, message_id=message_id)
            data = bytes(message.message().as_bytes(linesep="\r\n"))  # type: ignore[call-arg]
            return parseaddr(str(settings.DEFAULT_FROM_EMAIL))[1], [email], data
        token = unsubscribe_token(pseudonym=pseudonym, newsletter=self.newsletter, purpose=self.purpose)
        unsubscribe = unsubscribe_url(token)
        data = (
            raw.replace(_UNSUBSCRIBE.encode(), unsubscribe.encode())
            .replace(_CHOICES.encode(), consent_page_url(pseudonym).encode())
            .replace(_TO.encode(), formataddr((name, email), charset="utf-8").encode())
            .replace(_MESSAGE_ID.encode(), message_id.encode())
            .replace(_LIST_UNSUBSCRIBE.encode(), f"<{unsubscribe}>, <{unsubscribe_mailto(token)}>".encode())
        )
        return parseaddr(str(settings.DEFAULT_FROM_EMAIL))[1], [email], data


def campaign_template(
    *,
    language: str,
    subject: str,
    text: str,
    html: str,
    newsletter: str | None,
    newsletter_name: str,
    purpose: str,
) -> CampaignTemplate:
    """Render a campaign's parts in one language with the footer every marketing email has."""
    context = {
        "newsletter": newsletter_name,
        "unsubscribe_url": _UNSUBSCRIBE,
        "choices_url": _CHOICES,
        "purpose": purpose,
        **_footer_context(),
    }
    with translation.override(language):
        footer_text = render_to_string("marketing/email/footer.txt", context)
        footer_html = render_to_string("marketing/email/footer.html", context)
    body_html = html.strip() or linebreaks(escape(text))
    return CampaignTemplate(
        language=language,
        subject=subject,
        text=f"{text.rstrip()}\n\n{footer_text}",
        html=f'<!doctype html><html lang="{language}"><body>{body_html}\n{footer_html}</body></html>',
        newsletter=newsletter,
        purpose=purpose,
    )
