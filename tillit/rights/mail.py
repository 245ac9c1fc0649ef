"""Emails of the rights app. They carry signed, expiring links, never the person's data
(checklist item 14): the answer to an access request is a link to a download page. Every
email names the controller and its contact point (from the policy)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy

from tillit import policy
from tillit.rights.models import DataSubjectRequest

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise as StrOrPromise
else:
    StrOrPromise = str

KIND_LABELS = {
    "access": gettext_lazy("See the data we hold about you (access)"),
    "portability": gettext_lazy("Get your data in a machine-readable file (portability)"),
    "rectification": gettext_lazy("Correct data that is wrong (rectification)"),
    "erasure": gettext_lazy("Delete your data (erasure)"),
    "withdrawal": gettext_lazy("Withdraw your consent"),
    "objection": gettext_lazy("Object to direct marketing"),
    "objection_processing": gettext_lazy("Object to other use of your data based on our legitimate interests"),
    "restriction": gettext_lazy("Keep your data but stop using it for now (restriction)"),
}
# The grounds of a restriction (GDPR art. 18(1)(a)-(d); tillit.policy.restriction.GROUNDS).
GROUNDS_LABELS = {
    "accuracy_contested": gettext_lazy("My data is wrong: stop using it while you check it (art. 18(1)(a))"),
    "unlawful_processing": gettext_lazy(
        "You should not be using my data, but I do not want it deleted: keep it, unused (art. 18(1)(b))"
    ),
    "legal_claims": gettext_lazy("You no longer need my data, but I need it kept for a legal claim (art. 18(1)(c))"),
    "objection_pending": gettext_lazy(
        "I have objected: stop using my data while you decide on my objection (art. 18(1)(d))"
    ),
}
FIELD_LABELS = {
    "name": gettext_lazy("Name"),
    "email": gettext_lazy("Email address"),
    "phone": gettext_lazy("Phone number"),
    "position": gettext_lazy("Position"),
}


def _language(language: str) -> str:
    current = policy.current()
    return language if language in current.languages else current.default_language


def _message(
    *, email: str, language: str, subject: StrOrPromise, template: str, context: dict[str, Any]
) -> EmailMessage:
    current = policy.current()
    language = _language(language)
    with translation.override(language):
        body = render_to_string(
            f"rights/email/{template}",
            {"controller": current.controller, "rights": current.rights, "authority": current.supervisory_authority}
            | context,
        )
        subject_text = str(subject)
    message = EmailMessage(subject=subject_text, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[email])
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    return message


def verification_message(*, email: str, language: str, kind: str, token: str, hours: int) -> EmailMessage:
    url = settings.TILLIT_PUBLIC_URL + reverse("rights:verify", args=[token]) + f"?lang={_language(language)}"
    return _message(
        email=email,
        language=language,
        subject=gettext_lazy("Confirm your request about your personal data"),
        template="verify.txt",
        context={"kind": KIND_LABELS.get(kind, kind), "url": url, "hours": hours},
    )


def answer_message(
    *, email: str, language: str, request: DataSubjectRequest, download_token: str | None = None
) -> EmailMessage:
    language = _language(language)
    current = policy.current()
    outcome = request.outcome or {}
    categories = [
        current.categories[c].label.get(language, current.categories[c].label["en"])
        for c in outcome.get("erased", []) or []
        if c in current.categories
    ]
    download_url = ""
    if download_token:
        download_url = (
            settings.TILLIT_PUBLIC_URL + reverse("rights:download", args=[download_token]) + f"?lang={language}"
        )
    corrections = [
        {
            "field": FIELD_LABELS.get(c["field"], c["field"]),
            "approved": c["status"] == "approved",
            "reason": c["reason"],
        }
        for c in outcome.get("corrections", [])
    ]
    return _message(
        email=email,
        language=language,
        subject=gettext_lazy("The answer to your request about your personal data"),
        template="answer.txt",
        context={
            "request": request,
            "kind": KIND_LABELS.get(request.kind, request.kind),
            "outcome": outcome,
            "categories": categories,
            "download_url": download_url,
            "download_days": outcome.get("download_days", 7),
            "corrections": corrections,
            "objected_purpose": _purpose_label(outcome.get("objected_purpose", ""), language),
        },
    )


def _purpose_label(key: str, language: str) -> str:
    purposes = policy.current().purposes
    return purposes[key].label.get(language, purposes[key].label["en"]) if key in purposes else key


def extension_message(*, email: str, language: str, request: DataSubjectRequest) -> EmailMessage:
    return _message(
        email=email,
        language=language,
        subject=gettext_lazy("We need more time to answer your request"),
        template="extended.txt",
        context={"request": request, "kind": KIND_LABELS.get(request.kind, request.kind)},
    )


def refusal_message(*, email: str, language: str, request: DataSubjectRequest) -> EmailMessage:
    return _message(
        email=email,
        language=language,
        subject=gettext_lazy("We cannot do what you asked"),
        template="refused.txt",
        context={"request": request, "kind": KIND_LABELS.get(request.kind, request.kind)},
    )
