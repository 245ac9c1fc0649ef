"""Request middleware for every interface."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ServerTimingMiddleware:
    """Adds ``Server-Timing: app;dur=<ms>``: how long the application took for the request,
    measured on the server (what the benchmarks quote, and what an operator's browser shows)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response


class BodySizeLimitMiddleware:
    """Refuse a request body over ``TILLIT_MAX_BODY_BYTES`` with 413 before anything reads it.

    Declared sizes are checked from Content-Length; Django's own DATA_UPLOAD_MAX_MEMORY_SIZE
    guards bodies that lie about it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.TILLIT_MAX_BODY_BYTES
        for prefix, larger in settings.TILLIT_LARGE_BODY_PATHS.items():
            if request.path.startswith(prefix):
                limit = larger
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            size = int(declared)
        except ValueError:
            size = 0
        if size > limit:
            body = {"code": "too_large", "message": f"the request body is over {limit} bytes", "field": None}
            return HttpResponse(json.dumps(body), status=413, content_type="application/json")
        return self.get_response(request)


class GlobalPrivacyControlMiddleware:
    """Reads the Global Privacy Control signal: ``request.gpc`` is True only when a
    ``Sec-GPC`` header is exactly "1" (any of several headers counts; any other value is
    ignored, as the specification requires). What it means is decided elsewhere: an objection
    to profiling and partner sharing for an identified visitor, and a refusal of non-essential
    cookies (consent.services.record_gpc_objection, the cookie banner)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("HTTP_SEC_GPC", "")
        request.gpc = any(part.strip() == "1" for part in raw.split(","))  # type: ignore[attr-defined]
        return self.get_response(request)


class PublicRateLimitMiddleware:
    """Every public endpoint (anything asked without a staff session or an API token: the
    notice, the rights portal, consent and preference pages, forms, unsubscribe links, the
    cookie banner, webhooks) is rate-limited per client address: ``TILLIT_PUBLIC_RATE_PER_MINUTE``
    requests a minute (0 turns it off, as the load benchmarks do). Over the limit: 429 with
    ``Retry-After``. Endpoints with a tighter limit of their own (the portal, forms) keep it.
    Static files are not counted."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.TILLIT_PUBLIC_RATE_PER_MINUTE
        if limit > 0 and not self._exempt(request):
            from django.utils import timezone

            from tillit.capture.ratelimit import RateLimitedError, check_rate

            now = timezone.now()
            try:
                check_rate(scope="public", source=request.META.get("REMOTE_ADDR"), now=now, limit=limit)
            except RateLimitedError:
                body = {"code": "rate_limited", "message": "too many requests from your address; try again in a minute"}
                response = HttpResponse(json.dumps(body), status=429, content_type="application/json")
                response["Retry-After"] = str(60 - int(now.timestamp()) % 60)
                return response
        return self.get_response(request)

    @staticmethod
    def _exempt(request: HttpRequest) -> bool:
        if request.path.startswith(settings.STATIC_URL or "/static/"):
            return True
        if request.path.startswith("/api/"):
            return True  # the staff API: every request needs a staff user's token (401 without)
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_authenticated)


class NoStoreMiddleware:
    """Pages and API answers that may hold personal data are never kept by a browser's or a
    proxy's cache (``Cache-Control: no-store``): everything a signed-in staff member gets, and
    every API answer. A view that sets its own Cache-Control keeps it; public pages (the notice,
    static files) stay cacheable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Cache-Control" in response:
            return response
        user = getattr(request, "user", None)
        if request.path.startswith("/api/") or (user is not None and user.is_authenticated):
            response["Cache-Control"] = "no-store"
        return response


class SessionLifetimeMiddleware:
    """A staff session ends after ``TILLIT_SESSION_MAX_SECONDS`` (default 12 hours) however
    active it is: the idle limit (``SESSION_COOKIE_AGE``) alone would let a session that is used
    every few minutes live for ever. The start is stamped on the session at the first signed-in
    request; past the limit the user is signed out and sent to the sign-in page."""

    KEY = "tillit_signed_in_at"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            started = request.session.get(self.KEY)
            if not isinstance(started, int | float):
                request.session[self.KEY] = now
            elif now - started > settings.TILLIT_SESSION_MAX_SECONDS:
                from django.contrib.auth import logout
                from django.contrib.auth.views import redirect_to_login

                logout(request)
                return redirect_to_login(request.get_full_path())
        return self.get_response(request)
