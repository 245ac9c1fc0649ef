"""The rights portal for data subjects (policy §13; GDPR art. 12, 15-21): no login.

- ``/rights``: a form (email address, the request type, optional details; for a correction,
  what is wrong and what it should be). The answer is always the same page, whether or not we
  hold data for the address: we never reveal who is in our system. A link goes to the address
  we hold; we never ask for a national identity number.
- ``/rights/verify/<token>/``: GET shows a confirm button (link scanners only GET), POST
  confirms the request, which then completes by itself unless the policy needs a staff step.
- ``/rights/download/<token>/``: the answer to an access or portability request (signed link,
  7 days): the HTML page, the PDF, and the JSON (access) or the zip (portability).

Views translate only: pick the language, parse, call one service, render.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from tillit import policy
from tillit.core.actors import Actor
from tillit.core.csp import allow_own_styles
from tillit.core.errors import DomainError, ValidationError
from tillit.core.tokens import TokenError, TokenExpiredError
from tillit.policy import rights as rights_rule
from tillit.rights import selectors, services
from tillit.rights.mail import FIELD_LABELS, GROUNDS_LABELS, KIND_LABELS

PORTAL_ACTOR = Actor(kind="data_subject", role=None, user_id=None, label="data_subject:rights-portal")
LINK_ACTOR = Actor(kind="data_subject", role=None, user_id=None, label="data_subject:rights-link")
FORMATS = services.DOWNLOAD_FORMATS


def _language(request: HttpRequest) -> str:
    current = policy.current()
    asked = request.GET.get("lang") or request.POST.get("lang")
    if asked in current.languages:
        return str(asked)
    browser = (translation.get_language_from_request(request) or "")[:2]
    if browser == "no":
        browser = "nb"
    return browser if browser in current.languages else current.default_language


def _page(
    request: HttpRequest, template: str, language: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    base = {"lang": language, "controller_name": policy.current().controller.name}
    with translation.override(language):
        response = render(request, template, {**base, **context}, status=status)
    response.headers["Content-Language"] = language
    response.headers["Cache-Control"] = "no-store"
    return response


def _kinds() -> list[tuple[str, Any]]:
    return [(kind, KIND_LABELS[kind]) for kind in rights_rule.request_kinds(policy.current()) if kind in KIND_LABELS]


def _bad_link(request: HttpRequest, language: str, error: TokenError) -> HttpResponse:
    return _page(
        request,
        "public/rights_bad_link.html",
        language,
        {"expired": isinstance(error, TokenExpiredError), "used": isinstance(error, services.LinkUsedError)},
        status=error.status,
    )


@require_http_methods(["GET", "POST"])
def rights_form(request: HttpRequest) -> HttpResponse:
    language = _language(request)
    context: dict[str, Any] = {
        "kinds": _kinds(),
        "fields": list(FIELD_LABELS.items()),
        "purposes": selectors.objection_purposes(language),
        "grounds": list(GROUNDS_LABELS.items()),
        "values": request.POST,
    }
    if request.method == "GET":
        return _page(request, "public/rights.html", language, context)
    try:
        with translation.override(language):
            services.submit_request(
                actor=PORTAL_ACTOR,
                now=timezone.now(),
                email=request.POST.get("email", ""),
                kind=request.POST.get("kind", ""),
                language=language,
                details=request.POST.get("details", ""),
                correction_field=request.POST.get("correction_field", ""),
                correction_value=request.POST.get("correction_value", ""),
                objection_purpose=request.POST.get("objection_purpose", ""),
                restriction_grounds=request.POST.get("restriction_grounds", ""),
                ip=request.META.get("REMOTE_ADDR"),
            )
    except services.RateLimitedError as error:
        return _page(request, "public/rights.html", language, {**context, "rate_limited": True}, status=error.status)
    except ValidationError as error:
        with translation.override(language):
            message = _error_message(error)
        return _page(
            request,
            "public/rights.html",
            language,
            {**context, "error": message, "error_field": error.field},
            status=422,
        )
    return _page(request, "public/rights_sent.html", language, {})


def _error_message(error: ValidationError) -> str:
    messages = {
        "email": _("Please give a valid email address."),
        "kind": _("Please choose what you want us to do."),
        "details": _("The details are too long (at most 2000 characters)."),
        "correction_field": _("Please choose what is wrong."),
        "correction_value": _("Please say what it should be (at most 300 characters)."),
        "objection_purpose": _("Please choose which use of your data you object to."),
        "restriction_grounds": _("Please choose why we should stop using your data."),
    }
    return messages.get(error.field or "", _("Please check the form."))


@csrf_exempt  # reached from an email link without a session; the signed token is the credential
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, token: str) -> HttpResponse:
    language = _language(request)
    now = timezone.now()
    try:
        if request.method == "GET":
            pending = services.check_verification_link(token=token, now=now)
            return _page(
                request, "public/rights_confirm.html", language, {"token": token, "kind": KIND_LABELS.get(pending.kind)}
            )
        result = services.confirm_verification(actor=LINK_ACTOR, now=now, token=token)
    except TokenError as error:
        return _bad_link(request, language, error)
    current = policy.current()
    categories = [
        current.categories[c].label.get(language, current.categories[c].label["en"])
        for c in result.outcome.get("erased", []) or []
        if c in current.categories
    ]
    return _page(
        request,
        "public/rights_done.html",
        language,
        {"result": result, "kind": KIND_LABELS.get(result.kind), "categories": categories},
    )


@require_safe
def download_page(request: HttpRequest, token: str) -> HttpResponse:
    language = _language(request)
    try:
        download = services.open_download(actor=LINK_ACTOR, now=timezone.now(), token=token, what="")
    except TokenError as error:
        return _bad_link(request, language, error)
    return _page(
        request,
        "public/rights_download.html",
        language,
        {"token": token, "formats": FORMATS[download.kind], "kind": KIND_LABELS.get(download.kind)},
    )


@require_safe
def download_file(request: HttpRequest, token: str, fmt: str) -> HttpResponse:
    """One format of the answer, generated now by ``tillit.rights.answers``."""
    from tillit.rights import answers

    language = _language(request)
    now = timezone.now()
    try:
        download = services.open_download(actor=LINK_ACTOR, now=now, token=token, what=fmt)
    except TokenError as error:
        return _bad_link(request, language, error)
    try:
        if fmt == "zip":
            body: bytes | str = answers.portability_zip(person_id=download.person_id, now=now)
            return _file(body, "application/zip", "personal-data.zip")
        answer = answers.access_answer(person_id=download.person_id, language=language, now=now)
        if fmt == "json":
            return _file(
                json.dumps(answer, ensure_ascii=False, indent=2, default=str), "application/json", "personal-data.json"
            )
        if fmt == "pdf":
            return _file(answers.render_access_pdf(answer, language), "application/pdf", "personal-data.pdf")
        html = answers.render_access_html(answer, language)
        response = allow_own_styles(HttpResponse(html, content_type="text/html; charset=utf-8"), html)
    except DomainError as error:
        return _bad_link(request, language, TokenError(error.message))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Language"] = language
    return response


def _file(body: bytes | str, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
