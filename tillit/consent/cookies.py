"""Cookie consent (policy §15): the banner's wording and the choices made in it, as proof.

A browser is known only by the random id in its necessary ``tillit_consent`` cookie. Each
choice is appended to ``CookieChoice`` (the database refuses UPDATEs) with the categories
granted, the notice version in force, the exact banner wording, whether the browser sent
Global Privacy Control, and the evidence; the latest choice per browser is in force. What a
choice allows is the rulebook's call (``tillit.policy.cookies``).

Choices are not personal data tied to a person, and every website visitor makes one: they are
their own ledger and are not copied into the audit log (whose hash chain serialises writes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from tillit import policy
from tillit.audit import ledgers
from tillit.consent import selectors
from tillit.consent.models import CookieBannerWording, CookieChoice
from tillit.core.errors import ConflictError, ValidationError
from tillit.core.identifiers import truncate_ip
from tillit.policy import cookies as rule


@dataclass(frozen=True)
class CookieState:
    """A browser's choice in force, as the rulebook needs it."""

    categories: tuple[str, ...]
    notice_version_id: int
    chosen_at: dt.datetime
    gpc: bool
    is_current: bool  # made under the notice version in force, and not run out
    expired: bool = False  # older than the policy's cookie_choice_months: the banner asks again

    def allows(self, category: str) -> bool:
        return rule.may_use_category(
            policy.current(), category, granted=self.categories, choice_is_current=self.is_current
        )


def wording_digest(texts: Mapping[str, object]) -> str:
    """SHA-256 of the banner texts as canonical JSON (keys sorted, UTF-8, no spaces)."""
    canonical = json.dumps(dict(texts), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def store_banner_wording(*, now: dt.datetime, language: str, texts: Mapping[str, object]) -> str:
    """Keep the banner texts shown in ``language`` (once per distinct wording) and return their
    digest, which the banner sends back with a choice."""
    if language not in policy.current().languages:
        raise ValidationError(f"must be one of: {', '.join(policy.current().languages)}", field="lang")
    digest = wording_digest(texts)
    if CookieBannerWording.objects.filter(digest=digest).exists():
        return digest
    try:
        with transaction.atomic():
            CookieBannerWording.objects.create(digest=digest, language=language, texts=dict(texts), first_shown_at=now)
    except IntegrityError:  # shown for the first time by two requests at once
        pass
    return digest


def parse_browser_id(value: str | None) -> uuid.UUID | None:
    """The browser id from the consent cookie, or None if it is missing or not a UUID."""
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def cookie_state(*, browser_id: uuid.UUID | None, now: dt.datetime | None = None) -> CookieState | None:
    """The browser's latest choice, or None if it never chose (or is unknown). A choice older
    than the policy's validity (``rule.choice_expired`` at ``now``, the clock's when not
    given) is ``expired`` and no longer current: it allows nothing, and the banner asks."""
    if browser_id is None:
        return None
    latest = (
        CookieChoice.objects.filter(browser_id=browser_id)
        .order_by("-chosen_at", "-pk")
        .values("categories", "notice_version_id", "chosen_at", "gpc")
        .first()
    )
    if latest is None:
        return None
    if now is None:
        from django.utils import timezone

        now = timezone.now()
    expired = rule.choice_expired(policy.current(), latest["chosen_at"], now)
    return CookieState(
        categories=tuple(latest["categories"]),
        notice_version_id=latest["notice_version_id"],
        chosen_at=latest["chosen_at"],
        gpc=latest["gpc"],
        is_current=latest["notice_version_id"] == selectors.current_notice_id() and not expired,
        expired=expired,
    )


@transaction.atomic
def record_cookie_choice(
    *,
    now: dt.datetime,
    browser_id: uuid.UUID | None,
    categories: Iterable[str],
    wording: str,
    language: str,
    gpc: bool,
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
) -> tuple[uuid.UUID, CookieChoice]:
    """Record a choice made in the banner by a positive act (Accept, Reject or Save in the
    settings). A browser without an id gets a new one. ``wording`` is the digest of the banner
    texts the choice was made to; ``categories`` the optional categories granted (none: a
    refusal or a withdrawal). Returns the browser id and the choice."""
    current = policy.current()
    try:
        granted = rule.clean_categories(current, categories)
    except ValueError as error:
        raise ValidationError(str(error), field="categories") from None
    if language not in current.languages:
        raise ValidationError(f"must be one of: {', '.join(current.languages)}", field="lang")
    wording_row = CookieBannerWording.objects.filter(digest=wording).values("pk", "language").first()
    if wording_row is None or wording_row["language"] != language:
        raise ValidationError("the banner wording is unknown; reload the page and choose again", field="wording")
    notice_id = selectors.current_notice_id()
    if notice_id is None:
        raise ConflictError("no privacy notice has been published yet (tillit notice publish)")
    browser = browser_id or uuid.uuid4()
    choice = CookieChoice.objects.create(
        browser_id=browser,
        categories=list(granted),
        notice_version_id=notice_id,
        wording_id=wording_row["pk"],
        language=language,
        gpc=gpc,
        chosen_at=now,
        evidence_ip=truncate_ip(evidence_ip),
        evidence_user_agent=(evidence_user_agent or "")[:300],
    )
    ledgers.seal("cookie_choice", ids=[choice.pk], lock=True)  # tamper-evident, chained per browser
    return browser, choice


def cookie_choices(*, browser_id: uuid.UUID) -> list[CookieChoice]:
    """Every choice a browser made, oldest first (the proof, for the privacy officer)."""
    return list(CookieChoice.objects.filter(browser_id=browser_id).order_by("chosen_at", "pk"))
