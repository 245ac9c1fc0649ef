"""The privacy notice for data subjects (no sign-in; policy §1-§16, §14 versions) and the
Global Privacy Control well-known resource (checklist item 56).

Views translate only: they pick the language, call ``tillit.public.notice`` or a consent
selector, and render. The page sets no cookie: it has no form, and the language is chosen by
``?lang=`` or the browser's Accept-Language, never remembered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.http import require_safe

from tillit import policy
from tillit.consent import selectors as consent_selectors
from tillit.consent.models import NoticeVersion
from tillit.core.actors import Actor
from tillit.public import notice

PUBLIC_ACTOR = "public:privacy-notice"


@dataclass(frozen=True)
class VersionEntry:
    """One notice version on /privacy/versions with what changed since the one before it."""

    version: NoticeVersion
    short: str
    published_on: dt.date
    is_current: bool
    has_text: bool
    previous_short: str
    previous_has_text: bool
    diff: list[notice.DiffLine]
    purposes_added: list[str]
    purposes_removed: list[str]


def _short(version: NoticeVersion) -> str:
    return version.digest[:8]


def _page(
    request: HttpRequest, template: str, language: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """Render a public page in ``language`` (``public/base.html`` shows the language switch)."""
    base = {"language": language, "controller_name": policy.current().controller.name}
    with translation.override(language):
        response = render(request, template, {**base, **context}, status=status)
    response.headers["Content-Language"] = language
    return response


def _in_force(now: dt.datetime) -> NoticeVersion:
    """The version whose texts are the notice rendered from the policy in force, published now
    if no version has these texts yet (the first visit after a policy change publishes it)."""
    return notice.publish_current(now, actor=Actor.system(PUBLIC_ACTOR)).version


@require_safe
def privacy_notice(request: HttpRequest) -> HttpResponse:
    """/privacy: the notice in the reader's language (§1-§16), with its version date and short
    content hash at the top."""
    language = notice.notice_language(request)
    version = _in_force(timezone.now())
    with translation.override(language):
        context = notice.notice_context(policy.current(), language, html=True)
    context |= {"version": version, "short": _short(version)}
    return _page(request, "public/notice.html", language, context)


@require_safe
def notice_versions(request: HttpRequest) -> HttpResponse:
    """/privacy/versions: every published version, newest first, each with a readable diff
    against the version before it in the reader's language (§14)."""
    language = notice.notice_language(request)
    in_force = _in_force(timezone.now())
    versions = consent_selectors.notice_versions()
    labels = {key: p.label.get(language, p.label["en"]) for key, p in policy.current().purposes.items()}
    entries = []
    for index, version in enumerate(versions):
        previous = versions[index + 1] if index + 1 < len(versions) else None
        text = (version.texts or {}).get(language, "")
        entries.append(
            VersionEntry(
                version=version,
                short=_short(version),
                published_on=timezone.localdate(version.published_at),
                is_current=version.pk == in_force.pk,
                has_text=bool(text),
                previous_short=_short(previous) if previous else "",
                previous_has_text=bool(previous and (previous.texts or {}).get(language)),
                diff=notice.diff_texts(previous.texts[language], text)
                if previous and text and (previous.texts or {}).get(language)
                else [],
                purposes_added=[labels.get(p, p) for p in version.purposes if previous and p not in previous.purposes],
                purposes_removed=[labels.get(p, p) for p in previous.purposes if p not in version.purposes]
                if previous
                else [],
            )
        )
    return _page(request, "public/notice_versions.html", language, {"entries": entries})


@require_safe
def notice_version(request: HttpRequest, prefix: str) -> HttpResponse:
    """/privacy/versions/<hash>: the plain text of one version in the reader's language (or the
    policy's default language when that version has no text in it)."""
    language = notice.notice_language(request)
    version = consent_selectors.notice_version_by_prefix(prefix)
    if version is None:
        raise Http404("no such notice version")
    texts = version.texts or {}
    shown = language if texts.get(language) else policy.current().default_language
    context = {
        "version": version,
        "short": _short(version),
        "published_on": timezone.localdate(version.published_at),
        "text": texts.get(shown, ""),
        "text_language": shown,
        "text_language_name": dict(settings.LANGUAGES).get(shown, shown),
    }
    return _page(request, "public/notice_version.html", language, context)


@require_safe
def gpc_json(request: HttpRequest) -> JsonResponse:
    """/.well-known/gpc.json (W3C Global Privacy Control; checklist item 56): we honour the
    signal; ``lastUpdate`` is the date of the latest notice version (which states how), or of
    the policy file when no version is published yet."""
    latest = consent_selectors.current_notice()
    if latest is not None:
        updated = timezone.localdate(latest.published_at)
    else:
        modified = Path(settings.TILLIT_POLICY_PATH).stat().st_mtime
        updated = timezone.localdate(dt.datetime.fromtimestamp(modified, tz=dt.UTC))
    return JsonResponse({"gpc": True, "lastUpdate": updated.isoformat()})
