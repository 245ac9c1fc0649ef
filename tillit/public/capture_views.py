"""Public capture endpoints (no login; cross-site posts, so CSRF-exempt: there is no session or
cookie to forge a request with): forms, tracked downloads and the chat webhook.

- ``GET /forms/<id>/``: the form as a page, in the form's language; ``POST`` the same URL
  with a plain HTML form: 303 to ``/forms/<id>/thanks/``, or the page again with the error
  (422), 404 for an unknown form, 429 when one address sends too much.
- ``GET /forms/embed.js``: the one-``<script>``-tag embed: ``<script src=".../forms/embed.js"
  data-tillit-form="<id>" async></script>`` renders the form after the tag and posts it as
  JSON (first-party, no inline script or style: works under a strict CSP).
- ``GET /forms/<id>/definition.json``: what the embed renders.
- ``POST /forms/<id>/submissions``: the JSON endpoint (``application/json``, the field names
  of the definition, consent boxes as booleans): 201 ``{"status": "received"}``; errors are
  ``{"code", "message", "field"}`` with 4xx. CORS-enabled for any origin (no credentials).
- Both posts validate everything first (``services.receive_submission``); with
  ``TILLIT_FORM_INTAKE=queued`` an accepted submission is then one committed intake row that
  ``tillit capture drain`` applies, otherwise it is applied in the request.
- ``GET /d/<slug>/[?t=<signed token>]``: a tracked download: 302 to the material.
- ``POST /hooks/chat``: chat transcripts signed with HMAC-SHA256 (``tillit.capture.chat``).

Views translate only: parse, build the actor, call one service, render.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from tillit import policy
from tillit.capture import chat, selectors, services
from tillit.capture.ratelimit import RateLimitedError, check_rate
from tillit.core.actors import Actor
from tillit.core.errors import DomainError, NotFoundError, ValidationError
from tillit.policy import cookies as cookie_rules
from tillit.public.cookie_views import visitor_ids

FORM_ACTOR = services.SUBMITTER
DOWNLOAD_ACTOR = Actor(kind="data_subject", role=None, user_id=None, label="data_subject:download")
CHAT_ACTOR = Actor.system("chat-webhook")
EMBED_JS = Path(__file__).resolve().parent / "static" / "capture" / "embed.js"


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def _json_error(status: int, code: str, message: str, field: str | None = None) -> HttpResponse:
    return _cors(JsonResponse({"code": code, "message": message, "field": field}, status=status))


def _cors(response: HttpResponse) -> HttpResponse:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Vary"] = "Origin"
    return response


def _page(
    request: HttpRequest, template: str, language: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    base = {"lang": language, "controller_name": policy.current().controller.name}
    if "form" in context and "values" in context:
        values = context["values"]
        context["fields"] = [
            {**f, "value": values.get(f["name"], ""), "remember": f["name"] in cookie_rules.REMEMBERED_FIELDS}
            for f in context["form"]["fields"]
        ]
    with translation.override(language):
        response = render(request, template, {**base, **context}, status=status)
    response.headers["Content-Language"] = language
    response.headers["Cache-Control"] = "no-store"
    return response


def _not_found(request: HttpRequest) -> HttpResponse:
    language = policy.current().default_language
    return _page(request, "public/capture_missing.html", language, {}, status=404)


def _error_text(error: ValidationError, definition: dict[str, Any]) -> str:
    """The error in words for the person, in the active language, naming the field's label."""
    labels = {f["name"]: f["label"] for f in definition["fields"]}
    label = labels.get(error.field or "", "")
    if error.message == "is required" or "is required" in error.message:
        return _("Please fill in: %(label)s.") % {"label": label} if label else _("Please fill in the form.")
    if error.field == "email":
        return _("Please give a valid email address.")
    if error.field == "phone":
        return _("Please give a valid phone number.")
    if "at most" in error.message:
        return _("This is too long: %(label)s.") % {"label": label}
    return _("Please check: %(label)s.") % {"label": label} if label else _("Please check the form.")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def form_page(request: HttpRequest, public_id: str) -> HttpResponse:
    if request.method == "GET":
        try:
            definition = selectors.public_form(public_id)
        except NotFoundError:
            return _not_found(request)
        context = {"form": definition, "values": {}, "ticked": set()}
        return _page(request, "public/capture_form.html", definition["language"], context)
    now = timezone.now()
    data = _form_data(request)
    try:
        check_rate(scope="form", source=_client_ip(request), now=now)
        result = services.receive_submission(
            actor=FORM_ACTOR,
            now=now,
            public_id=public_id,
            data=data,
            sender=_sender(request),
        )
    except NotFoundError:
        return _not_found(request)
    except (RateLimitedError, ValidationError) as error:
        return _form_again(request, public_id, data, error)
    url = reverse("capture:thanks", args=[result.form.public_id])
    if result.download_token:
        url += "?" + urlencode({"d": result.download_token})
    return HttpResponseRedirect(url, status=303)


def _form_again(request: HttpRequest, public_id: str, data: dict[str, Any], error: DomainError) -> HttpResponse:
    """The form once more, with what the person typed, and what to do about it."""
    try:
        definition = selectors.public_form(public_id)
    except NotFoundError:
        return _not_found(request)
    language = definition["language"]
    context: dict[str, Any] = {
        "form": definition,
        "values": {k: v for k, v in data.items() if isinstance(v, str)},
        "ticked": {k for k, v in data.items() if k.startswith("consent_") and v},
        "chosen": data.get("product_interests") or [],
    }
    if isinstance(error, RateLimitedError):
        context["rate_limited"] = True
    else:
        assert isinstance(error, ValidationError)
        with translation.override(language):
            context["error"] = _error_text(error, definition)
        context["error_field"] = error.field
    return _page(request, "public/capture_form.html", language, context, status=error.status)


def _sender(request: HttpRequest) -> services.Sender:
    """What the request carries with a submission besides the answers."""
    browser_id, visitor_id = visitor_ids(request)
    return services.Sender(
        ip=_client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        browser_id=browser_id,
        visitor_id=visitor_id,
        gpc=bool(getattr(request, "gpc", False)),
    )


def _form_data(request: HttpRequest) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in request.POST:
        if key == "product_interests":
            data[key] = request.POST.getlist(key)
        else:
            data[key] = request.POST.get(key, "")
    return data


@require_safe
def thanks(request: HttpRequest, public_id: str) -> HttpResponse:
    try:
        definition = selectors.public_form(public_id)
    except NotFoundError:
        return _not_found(request)
    token = request.GET.get("d", "")[:2000]
    material = selectors.form_material(public_id) if token else None
    download = f"{reverse('capture:download', args=[material.slug])}?{urlencode({'t': token})}" if material else ""
    return _page(
        request,
        "public/capture_thanks.html",
        definition["language"],
        {"form": definition, "download": download, "material": material},
    )


@require_safe
def definition_json(request: HttpRequest, public_id: str) -> HttpResponse:
    try:
        definition = selectors.public_form(public_id)
    except NotFoundError:
        return _json_error(404, "not_found", "no such form", "form")
    with translation.override(definition["language"]):
        definition["texts"] = {
            "submit": _("Send"),
            "thanks": _("Thank you. We have received your answers."),
            "error": _("Please check the form."),
            "required": _("required"),
            "privacy": _("How we use your data"),
        }
    definition["privacy_url"] = (
        request.build_absolute_uri(reverse("public:privacy")) + f"?lang={definition['language']}"
    )
    definition["submit_url"] = request.build_absolute_uri(reverse("capture:submissions", args=[definition["id"]]))
    response = _cors(JsonResponse(definition))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def submissions_json(request: HttpRequest, public_id: str) -> HttpResponse:
    if request.method == "OPTIONS":  # the CORS preflight of a JSON post from another site
        response = _cors(HttpResponse(status=204))
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "86400"
        return response
    now = timezone.now()
    if request.content_type != "application/json":
        return _json_error(415, "unsupported_media_type", "send the answers as application/json")
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _json_error(400, "bad_request", "the body is not valid JSON")
    if not isinstance(data, dict):
        return _json_error(422, "invalid", "the body is a JSON object of answers")
    try:
        check_rate(scope="form", source=_client_ip(request), now=now)
        services.receive_submission(
            actor=FORM_ACTOR,
            now=now,
            public_id=public_id,
            data=data,
            sender=_sender(request),
            strict=True,
        )
    except DomainError as error:
        return _json_error(error.status, error.code, error.message, error.field)
    return _cors(JsonResponse({"status": "received"}, status=201))


@lru_cache(maxsize=1)
def _embed_source() -> bytes:
    return EMBED_JS.read_bytes()


@require_safe
def embed_js(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_embed_source(), content_type="text/javascript; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return _cors(response)


@require_safe
def download(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        result = services.record_download(
            actor=DOWNLOAD_ACTOR, now=timezone.now(), slug=slug, token=request.GET.get("t", "")[:2000]
        )
    except NotFoundError:
        return _not_found(request)
    response = HttpResponseRedirect(result.url)
    response.headers["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def chat_webhook(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    try:
        chat.verify_signature(
            secret=settings.TILLIT_CHAT_WEBHOOK_SECRET,
            timestamp=request.headers.get("X-Tillit-Timestamp", ""),
            signature=request.headers.get("X-Tillit-Signature", ""),
            body=request.body,
            now=now,
        )
        result = chat.record_chat(actor=CHAT_ACTOR, now=now, body=request.body)
    except DomainError as error:
        return JsonResponse({"code": error.code, "message": error.message, "field": error.field}, status=error.status)
    return JsonResponse(
        {"status": "received", "person_created": result.created, "held_for_review": result.quarantined}, status=201
    )
