"""Pages for people who get our emails (no sign-in): one-click unsubscribe (RFC 8058), the
double opt-in confirmation, subscribing to a newsletter, asking for the link to one's choices
without the original email, and the newsletters on the preference centre (the consent page).

A GET never changes anything (mail filters open links to scan them); a change is a POST. The
unsubscribe POST needs no cookie, session or login: the signed token is the credential, and
it answers 200 with no redirect (RFC 8058 §3.2)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from tillit import policy
from tillit.consent import selectors as consent_selectors
from tillit.consent.links import CONSENT_LINK_DAYS, CONSENT_LINK_USE
from tillit.core.actors import Actor
from tillit.core.errors import DomainError, NotFoundError, ValidationError
from tillit.core.tokens import TokenError, TokenExpiredError, read_token
from tillit.marketing import mail, selectors, services

SUBJECT = Actor(kind="data_subject", role=None, user_id=None, label="data_subject:link")
# The exact wording shown next to the subscribe button; it goes into the consent ledger.
WORDING = gettext_lazy(
    "Yes, %(controller)s may send me %(newsletter)s by email. I can unsubscribe at any time with the link in "
    "every email."
)


def _language(request: HttpRequest, fallback: str | None = None) -> str:
    current = policy.current()
    asked = request.GET.get("lang") or request.POST.get("lang")
    if asked in current.languages:
        return str(asked)
    active = (translation.get_language() or "")[:2]
    if fallback in current.languages:
        return str(fallback)
    return active if active in current.languages else current.default_language


def _evidence(request: HttpRequest) -> dict[str, Any]:
    return {
        "evidence_ip": request.META.get("REMOTE_ADDR"),
        "evidence_user_agent": request.headers.get("User-Agent", ""),
    }


def _bad_link(request: HttpRequest, error: DomainError, language: str) -> HttpResponse:
    with translation.override(language):
        return render(
            request,
            "public/consent_bad_link.html",
            {"expired": isinstance(error, TokenExpiredError), "message": error.message},
            status=error.status,
        )


@csrf_exempt  # one-click from a mail client: no cookie, no session; the signed token is the credential
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with one button (changes nothing). POST (the button, or a mail client's
    ``List-Unsubscribe=One-Click``): unsubscribe, 200, no redirect; again: still 200."""
    language = _language(request)
    try:
        payload = read_token(mail.UNSUBSCRIBE_USE, token, max_age_seconds=None)
    except TokenError as error:
        return _bad_link(request, error, language)
    newsletter, purpose = payload.get("l"), payload.get("u")
    person_id = consent_selectors.person_id_for_pseudonym(str(payload.get("p", "")))
    if person_id is not None:
        language = _language(request, consent_selectors.own_choices(person_id=person_id)["language"])
    names = {n.key: selectors.label(n.name, language) for n in selectors.newsletters(include_archived=True)}
    what = names.get(newsletter or "", "") if newsletter else ""
    context = {"token": token, "newsletter": what, "lang": language, "gone": person_id is None}
    with translation.override(language):
        if request.method == "GET":
            return render(request, "public/unsubscribe.html", context)
        changed = False
        if person_id is not None:
            try:
                changed = services.unsubscribe(
                    actor=SUBJECT,
                    now=timezone.now(),
                    person_id=person_id,
                    newsletter=newsletter,
                    purpose=purpose,
                    source_kind="email_link",
                    language=language,
                    **_evidence(request),
                )
            except ValidationError as error:
                return _bad_link(request, error, language)
        return render(request, "public/unsubscribe_done.html", {**context, "changed": changed})


@require_http_methods(["GET", "POST"])
def confirm_subscription(request: HttpRequest, token: str) -> HttpResponse:
    """The double opt-in link. GET shows a button (a link scanner subscribes nobody); the
    POST subscribes. A used link changes nothing the second time."""
    language = _language(request)
    try:
        payload = read_token(mail.CONFIRM_USE, token, max_age_seconds=mail.CONFIRM_DAYS * 86400)
        pending = selectors.pending_request(int(payload.get("r", 0)))
        if pending is None:
            raise NotFoundError("this confirmation link is no longer valid")
    except (TokenError, NotFoundError, ValueError, TypeError) as error:
        if not isinstance(error, DomainError):
            error = TokenError("this link is not valid")
        return _bad_link(request, error, language)
    language = _language(request, pending.language)
    with translation.override(language):
        name = selectors.label(pending.newsletter.name, language)
        if request.method == "GET":
            return render(
                request,
                "public/newsletter_confirm.html",
                {"token": token, "newsletter": name, "lang": language, "used": pending.confirmed_at is not None},
            )
        try:
            result = services.confirm_subscription(
                actor=SUBJECT, now=timezone.now(), request_id=pending.pk, **_evidence(request)
            )
        except DomainError as error:
            return _bad_link(request, error, language)
        return render(
            request,
            "public/newsletter_confirmed.html",
            {"newsletter": name, "already": result.already, "lang": language},
        )


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    """Subscribe to a newsletter with an address: a confirmation email goes to it; the answer
    is the same whoever the address belongs to."""
    language = _language(request)
    with translation.override(language):
        lists = [
            (n.key, selectors.label(n.name, language), selectors.label(n.description, language))
            for n in selectors.newsletters()
        ]
        context: dict[str, object] = {"lists": lists, "lang": language, "values": request.POST}
        if request.method == "GET":
            return render(request, "public/newsletter_subscribe.html", context)
        key = request.POST.get("newsletter", "")
        names = {k: name for k, name, _ in lists}
        try:
            if key not in names:
                raise ValidationError(_("Choose a newsletter."), field="newsletter")
            services.request_subscription(
                actor=SUBJECT,
                now=timezone.now(),
                email=request.POST.get("email", ""),
                name=request.POST.get("name", ""),
                newsletter=key,
                language=language,
                source_kind="form",
                wording=str(WORDING) % {"newsletter": names[key], "controller": policy.current().controller.name},
                **_evidence(request),
            )
        except ValidationError as error:
            return render(request, "public/newsletter_subscribe.html", {**context, "error": error}, status=422)
        return render(request, "public/newsletter_check_email.html", context)


@require_http_methods(["GET", "POST"])
def preference_link(request: HttpRequest) -> HttpResponse:
    """Ask for the link to your choices without the original email: it is sent to the address
    if we hold it. The page says the same either way."""
    language = _language(request)
    with translation.override(language):
        if request.method == "GET":
            return render(request, "public/preferences_request.html", {"lang": language})
        services.send_preference_link(
            actor=SUBJECT, now=timezone.now(), email=request.POST.get("email", ""), language=language
        )
        return render(request, "public/preferences_sent.html", {"lang": language})


@csrf_exempt  # reached from an email link without a session; the signed token is the credential
@require_http_methods(["POST"])
def preference_newsletters(request: HttpRequest, token: str) -> HttpResponse:
    """The newsletters on the preference centre: subscribe (a confirmation email, double
    opt-in) or unsubscribe (at once)."""
    language = _language(request)
    try:
        payload = read_token(CONSENT_LINK_USE, token, max_age_seconds=CONSENT_LINK_DAYS * 86400)
        person_id = consent_selectors.person_id_for_pseudonym(str(payload.get("p", "")))
        if person_id is None:
            raise TokenError("there is no data about you here any more")
    except TokenError as error:
        return _bad_link(request, error, language)
    language = _language(request, consent_selectors.own_choices(person_id=person_id)["language"])
    key = request.POST.get("newsletter", "")
    with translation.override(language):
        try:
            listed = selectors.newsletter(key)
            name = selectors.label(listed.name, language)
            if request.POST.get("action") == "subscribe":
                services.request_subscription_for_person(
                    actor=SUBJECT,
                    now=timezone.now(),
                    person_id=person_id,
                    newsletter=key,
                    language=language,
                    wording=str(WORDING) % {"newsletter": name, "controller": policy.current().controller.name},
                    **_evidence(request),
                )
                return render(request, "public/newsletter_check_email.html", {"lang": language, "token": token})
            changed = services.unsubscribe(
                actor=SUBJECT,
                now=timezone.now(),
                person_id=person_id,
                newsletter=key,
                purpose=None,
                source_kind="preference_centre",
                language=language,
                **_evidence(request),
            )
        except DomainError as error:
            return _bad_link(request, error, language)
        return render(
            request,
            "public/unsubscribe_done.html",
            {"newsletter": name, "changed": changed, "lang": language, "choices_token": token},
        )
