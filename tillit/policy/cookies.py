"""Which cookies may be set, and which visits may be counted (policy §15 cookies, §4 technical
information; the ePrivacy directive art. 5(3) as in the Norwegian Electronic Communications Act
(ekomloven) §2-7b; GDPR art. 7 and 21(5) for Global Privacy Control).

- Only the ``necessary`` category (``consent_required = false``) is set without consent.
- Every other category needs a choice made by a positive act, under the notice version in
  force; a new notice version asks again (the old choice no longer counts).
- A choice (accept or reject) is valid ``[consent_lifetime] cookie_choice_months`` months;
  then it no longer counts and the banner asks again (``choice_expired``).
- Global Privacy Control (``Sec-GPC: 1``) is a refusal of every category that needs consent
  until the visitor actively accepts one (§15 as published: "If you have actively accepted a
  category of cookies on this website, we respect that choice for that category"). Only a
  recorded choice, a positive act in the banner, grants a category; so with GPC the banner does
  not ask on its own and nothing optional is set, and the footer link still lets the visitor
  opt in explicitly.

Pure: the facts come in as arguments; no database, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Final

from tillit.policy.schema import Policy

# The cookies the code itself sets; the policy file declares them and a test keeps them equal.
CONSENT_COOKIE: Final = "tillit_consent"  # necessary: the id of this browser's recorded choices
VISITOR_COOKIE: Final = "tillit_visitor"  # statistics: the id visits are counted under
FIELDS_COOKIE: Final = "tillit_fields"  # functional: remembers what was typed in our forms
# What the functional ``tillit_fields`` storage remembers (§15: "so you don't have to fill in
# the same fields again"): who you are and how to reach you, as typed in our forms. Never the
# answers to questions (free text may hold anything), never product choices, never a consent
# box (a consent is a fresh positive act each time, GDPR art. 7). The values stay in the
# visitor's own browser (``public/cookies.js``), never on our server.
REMEMBERED_FIELDS: Final = ("name", "email", "phone", "organisation", "position", "industry")


def optional_categories(policy: Policy) -> tuple[str, ...]:
    """The cookie categories that need consent, in policy order (what the banner asks for)."""
    return tuple(key for key, category in policy.cookies.items() if category.consent_required)


def category_of_cookie(policy: Policy, name: str) -> str | None:
    """The category the policy puts a cookie in, or None if the policy does not declare it."""
    for key, category in policy.cookies.items():
        if any(cookie.name == name for cookie in category.cookies):
            return key
    return None


def category_for_purpose(policy: Policy, purpose: str) -> str | None:
    """The cookie category that serves a purpose (e.g. ``statistics``), if any."""
    for key, category in policy.cookies.items():
        if category.purpose == purpose:
            return key
    return None


def clean_categories(policy: Policy, requested: Iterable[str]) -> tuple[str, ...]:
    """The optional categories of ``requested`` in policy order; an unknown key raises
    ``ValueError`` naming it (necessary cookies are never part of a choice)."""
    wanted = set(requested)
    optional = optional_categories(policy)
    unknown = sorted(wanted - set(optional) - {k for k, c in policy.cookies.items() if not c.consent_required})
    if unknown:
        raise ValueError(f"unknown cookie category {unknown[0]!r}")
    return tuple(key for key in optional if key in wanted)


def may_use_category(policy: Policy, category: str, *, granted: Iterable[str], choice_is_current: bool) -> bool:
    """Whether cookies of ``category`` may be set, and its purpose served, for a browser now.

    ``granted`` are the categories of the browser's latest choice (none if it never chose, or
    sends GPC and never actively accepted); ``choice_is_current`` whether that choice was made
    under the notice version in force."""
    rule = policy.cookies.get(category)
    if rule is None:
        return False
    if not rule.consent_required:
        return True
    return choice_is_current and category in set(granted)


def must_ask(*, has_choice: bool, choice_is_current: bool, gpc: bool) -> bool:
    """Whether the banner asks on its own: no choice yet, or one made under an older notice
    version. With GPC it does not: the signal already answers "no" (the footer link still
    lets the visitor opt in explicitly)."""
    if gpc:
        return False
    return not has_choice or not choice_is_current


def cookies_to_clear(policy: Policy, granted: Iterable[str]) -> tuple[str, ...]:
    """The names of the cookies of every optional category not in ``granted`` (cleared when
    a choice is made or changed, so a withdrawal leaves nothing behind)."""
    kept = set(granted)
    return tuple(
        cookie.name
        for key, category in policy.cookies.items()
        if category.consent_required and key not in kept
        for cookie in category.cookies
    )


def cookie_max_age_seconds(policy: Policy, name: str) -> int:
    """How long the policy says a cookie lives, in seconds (``duration_days``)."""
    for category in policy.cookies.values():
        for cookie in category.cookies:
            if cookie.name == name:
                return cookie.duration_days * 86_400
    raise KeyError(name)


def choice_expired(policy: Policy, chosen_at: dt.datetime, now: dt.datetime) -> bool:
    """Whether a cookie choice made at ``chosen_at`` has run out at ``now``: it is valid the
    policy's ``cookie_choice_months`` (in the controller's time zone; exactly at the end it no
    longer counts, and the banner asks again). A refusal runs out too: we ask again, once per
    period, never sooner."""
    from tillit.policy.retention import subtract_months

    return chosen_at <= subtract_months(now, policy.consent_lifetime.cookie_choice_months)
