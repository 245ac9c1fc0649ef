"""The cookie banner's endpoints and site visits (policy §15 cookies, §4 technical information).

The banner itself is first-party static JavaScript and CSS (``public/cookies.js``, ``.css``):
one ``<script>`` tag on our public pages or on the company website. It asks these endpoints:

- ``GET /cookies/state``: the banner's texts in the page's language, the categories from the
  policy, and this browser's choice in force. Sets no cookie (it may clear optional ones that
  are no longer allowed).
- ``POST /cookies/choice``: record a choice (Accept, Reject, or Save in the settings) as proof,
  set the necessary ``tillit_consent`` cookie, the statistics cookie if granted, and clear the
  cookies of every category not granted.
- ``POST /visits``: record a page view, only if the browser's choice allows statistics.

Global Privacy Control: ``request.gpc`` (the ``Sec-GPC: 1`` header, see the middleware) or the
banner's ``gpc=1`` (``navigator.globalPrivacyControl``) means the banner does not ask on its
own. POSTs are refused from a foreign ``Origin`` (a forged choice from another site); websites
allowed to embed the banner are listed in ``TILLIT_EMBED_ORIGINS``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tillit import policy
from tillit.capture import visits
from tillit.consent import cookies as cookie_consent
from tillit.core.actors import Actor
from tillit.core.errors import DomainError
from tillit.policy import cookies as rule
from tillit.public import notice

# The person in front of the banner: a browser, not yet anyone we know.
VISITOR = Actor(kind="data_subject", role=None, user_id=None, label="data_subject:banner")


def _error(error: DomainError) -> JsonResponse:
    return JsonResponse({"code": error.code, "message": error.message, "field": error.field}, status=error.status)


def _origin_of(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _allowed_origin(request: HttpRequest) -> str | None:
    """The request's Origin if it is ours or an embedding website's; "" if there is none."""
    origin = request.headers.get("Origin", "")
    if not origin:
        return ""
    if origin == _origin_of(request) or origin in getattr(settings, "TILLIT_EMBED_ORIGINS", ()):
        return origin
    return None


def _cors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer an embedding website's fetch with credentials (CORS), refuse a POST from any other
    origin (a forged choice), and never let a browser cache a per-browser answer."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        origin = _allowed_origin(request)
        if origin is None and request.method == "POST":
            return JsonResponse(
                {"code": "forbidden_origin", "message": "this page may not make cookie choices", "field": None},
                status=403,
            )
        response = view(request, *args, **kwargs)
        if origin and origin != _origin_of(request):
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Credentials"] = "true"
            response["Vary"] = "Origin"
        response["Cache-Control"] = "no-store"
        return response

    return wrapper


def _gpc(request: HttpRequest) -> bool:
    return bool(getattr(request, "gpc", False)) or request.GET.get("gpc") == "1" or request.POST.get("gpc") == "1"


def _language(request: HttpRequest) -> str:
    asked = request.GET.get("lang") or request.POST.get("lang") or ""
    asked = asked.split("-")[0].lower()
    asked = {"no": "nb", "nn": "nb"}.get(asked, asked)
    if asked in policy.current().languages:
        return asked
    return notice.notice_language(request)


def _browser_id(request: HttpRequest) -> uuid.UUID | None:
    return cookie_consent.parse_browser_id(request.COOKIES.get(rule.CONSENT_COOKIE))


def _visitor_id(request: HttpRequest) -> uuid.UUID | None:
    return cookie_consent.parse_browser_id(request.COOKIES.get(rule.VISITOR_COOKIE))


def _banner_texts(language: str) -> dict[str, Any]:
    """Everything the banner shows, in ``language``: its wording is stored and hashed as the
    proof of what a choice was made to."""
    current = policy.current()
    with translation.override(language):
        categories = []
        for key, category in current.cookies.items():
            purpose = current.purposes.get(category.purpose or "")
            if purpose is not None:
                label = purpose.label.get(language, purpose.label["en"])
                if language != "en":  # a label inside a sentence: sv and nb do not capitalise it
                    label = label[:1].lower() + label[1:]
                description = _("Used for: %(purpose)s.") % {"purpose": label}
            else:
                description = _("The website needs these to work; they are always on.")
            categories.append(
                {
                    "key": key,
                    "label": category.label.get(language, category.label["en"]),
                    "description": description,
                    "required": not category.consent_required,
                    "cookies": [
                        {"name": c.name, "purpose": notice.policy_text(c.purpose, language), "days": c.duration_days}
                        for c in category.cookies
                    ],
                }
            )
        texts = {
            "title": _("Cookies on this website"),
            "intro": _(
                "We use necessary cookies to make this website work. With your consent we also use "
                "functional cookies, which remember what you typed in our forms, and statistics cookies, "
                "which count visits so we can improve the website. Nothing but necessary cookies is set "
                "until you choose, and you can change your mind at any time from the link at the bottom "
                "of every page."
            ),
            "gpc": _(
                "Your browser sends Global Privacy Control, so we set only necessary cookies. You can still "
                "turn a category on here."
            ),
            "changed": _("Our privacy notice has changed since you chose. Please choose again."),
            "expired": _("It is some time since you made your cookie choices. Please choose again."),
            "accept": _("Accept all"),
            "reject": _("Reject all"),
            "settings": _("Settings"),
            "settings_title": _("Choose which cookies we may use"),
            "save": _("Save my choices"),
            "always_on": _("Always on"),
            "cookie_list": _("Cookies in this category"),
            "days": _("days"),
            "saved": _("Your cookie choices are saved."),
            "notice": _("Read our privacy notice"),
            "settings_link": _("Cookie settings"),
            "categories": categories,
        }
    return texts


def _clear_cookies(request: HttpRequest, response: HttpResponse, allowed: set[str]) -> list[str]:
    """Clear the cookies of every optional category not allowed (those the browser sent)."""
    names = rule.cookies_to_clear(policy.current(), allowed)
    for name in names:
        if name in request.COOKIES:
            response.delete_cookie(name, path="/", samesite="Lax")
    return list(names)


def _set_cookie(response: HttpResponse, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=rule.cookie_max_age_seconds(policy.current(), name),
        path="/",
        secure=not settings.DEBUG,
        httponly=True,
        samesite="Lax",
    )


def _state(request: HttpRequest, *, language: str, state: cookie_consent.CookieState | None) -> dict[str, Any]:
    current = policy.current()
    gpc = _gpc(request)
    texts = _banner_texts(language)
    wording = cookie_consent.store_banner_wording(now=timezone.now(), language=language, texts=texts)
    allowed = [key for key in rule.optional_categories(current) if state is not None and state.allows(key)]
    base = _origin_of(request)
    return {
        "ask": rule.must_ask(has_choice=state is not None, choice_is_current=bool(state and state.is_current), gpc=gpc),
        "gpc": gpc,
        "changed": state is not None and not state.is_current and not state.expired,
        "expired": state is not None and state.expired,
        "choice": None if state is None else {"categories": list(state.categories), "current": state.is_current},
        "allowed": allowed,
        "statistics": visits.statistics_category(),
        "clear": list(rule.cookies_to_clear(current, set(allowed))),
        "lang": language,
        "wording": wording,
        "texts": texts,
        "privacy_url": f"{base}{reverse('public:privacy')}?lang={language}#cookies",
        "choice_url": f"{base}{reverse('public:cookie-choice')}",
        "visit_url": f"{base}{reverse('public:visit')}",
        "stylesheet": f"{base}{static('public/cookies.css')}",
    }


@require_GET
@_cors
def cookie_state(request: HttpRequest) -> HttpResponse:
    """What the banner needs to show itself (or not) in this browser."""
    state = cookie_consent.cookie_state(browser_id=_browser_id(request), now=timezone.now())
    try:
        body = _state(request, language=_language(request), state=state)
    except DomainError as error:
        return _error(error)
    response = JsonResponse(body)
    _clear_cookies(request, response, set(body["allowed"]))
    return response


@csrf_exempt  # a first-party script's fetch; the Origin check in _cors refuses forged choices
@require_POST
@_cors
def cookie_choice(request: HttpRequest) -> HttpResponse:
    """Record a choice made in the banner and set (or clear) the cookies it allows."""
    now = timezone.now()
    language = _language(request)
    try:
        browser_id, _choice = cookie_consent.record_cookie_choice(
            now=now,
            browser_id=_browser_id(request),
            categories=request.POST.getlist("categories"),
            wording=request.POST.get("wording", ""),
            language=language,
            gpc=_gpc(request),
            evidence_ip=request.META.get("REMOTE_ADDR"),
            evidence_user_agent=request.headers.get("User-Agent", ""),
        )
    except DomainError as error:
        return _error(error)
    state = cookie_consent.cookie_state(browser_id=browser_id, now=now)
    body = _state(request, language=language, state=state)
    response = JsonResponse(body)
    _set_cookie(response, rule.CONSENT_COOKIE, str(browser_id))
    allowed = set(body["allowed"])
    statistics = visits.statistics_category()
    if statistics in allowed and _visitor_id(request) is None:
        _set_cookie(response, rule.VISITOR_COOKIE, str(uuid.uuid4()))
    if statistics not in allowed:  # withdrawn (or refused): this browser's visits are nobody's
        visits.unlink_visitor(actor=VISITOR, now=now, visitor_id=_visitor_id(request))
    _clear_cookies(request, response, allowed)
    return response


@csrf_exempt  # as above: the Origin check refuses other websites
@require_POST
@_cors
def record_visit(request: HttpRequest) -> HttpResponse:
    """Record a page view if this browser's choice allows statistics; else clear the
    statistics cookie if it is still there. Answers ``{"recorded": true|false}``."""
    visitor_id = _visitor_id(request)
    new_visitor = visitor_id is None
    try:
        visit = visits.record_visit(
            now=timezone.now(),
            browser_id=_browser_id(request),
            visitor_id=visitor_id or uuid.uuid4(),
            url=request.POST.get("url", ""),
            referrer=request.POST.get("referrer", ""),
            ip=request.META.get("REMOTE_ADDR"),
            user_agent=request.headers.get("User-Agent", ""),
            accept_language=request.headers.get("Accept-Language", ""),
        )
    except DomainError as error:
        return _error(error)
    response = JsonResponse({"recorded": visit is not None})
    if visit is not None:
        if new_visitor:
            _set_cookie(response, rule.VISITOR_COOKIE, str(visit.visitor_id))
    else:
        state = cookie_consent.cookie_state(browser_id=_browser_id(request))
        allowed = {k for k in rule.optional_categories(policy.current()) if state is not None and state.allows(k)}
        _clear_cookies(request, response, allowed)
    return response


def visitor_ids(request: HttpRequest) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(browser id, statistics visitor id) from the request's first-party cookies: what a form
    submission passes to ``capture.visits.link_visitor_to_person``."""
    return _browser_id(request), _visitor_id(request)
