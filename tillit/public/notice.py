"""The privacy notice, published from the policy file (policy §1-§16, GDPR art. 12-14, 21(4)).

Every fact in the notice comes from ``tillit.policy.current()``; the wording lives in two
templates, ``public/notice.txt`` (the plain text that is versioned and hashed) and
``public/notice.html`` (the page), which use the same translatable sentences. The words for the
fixed vocabulary (legal bases, rights, verification methods, interaction kinds) are below, and
the free text that the policy file states in English only (cookie purposes, the processor's
role, an assessment's title ...) is translated through the ``policy`` gettext domain
(``locale/<language>/LC_MESSAGES/policy.po``), which ``makemessages`` leaves alone.

``publish_current`` renders the notice in every language of the policy and hands the texts to
``tillit.consent.services.publish_notice``, which stores a new ``NoticeVersion`` only when the
texts changed (§14: each version is kept, dated and identified by a content hash).
"""

from __future__ import annotations

import datetime as dt
import difflib
import gettext as gettext_module
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.utils.translation.trans_real import parse_accept_lang_header

from tillit import policy
from tillit.consent import selectors as consent_selectors
from tillit.consent import services as consent_services
from tillit.consent.models import NoticeVersion
from tillit.core.actors import Actor
from tillit.core.identifiers import format_organisation_number, format_phone
from tillit.core.words import BASIS_WORDS, RIGHT_WORDS, transfer_words
from tillit.policy.schema import Policy, Purpose

# The rights portal for data subjects (§13). Linked before the page itself exists.
RIGHTS_PORTAL_PATH = "/rights"
# The gettext domain of the free text written in the policy file (English only there).
POLICY_DOMAIN = "policy"
# Accept-Language tags that mean Norwegian without naming Bokmål.
NORWEGIAN_TAGS = {"no": "nb", "nn": "nb", "nb": "nb"}

# The words for the fixed vocabulary (tillit.core.vocabulary); the policy decides where they apply.
VERIFICATION_WORDS: Mapping[str, Promise] = {
    "email_link": _("by a link we send to the email address we already hold for you"),
    "signed_document": _("by a signed document, for example a request signed electronically"),
}
INBOUND_WORDS: Mapping[str, Promise] = {
    "form": _("a form you filled in"),
    "download": _("material you downloaded"),
    "email": _("an email you sent us"),
    "call": _("a call you made to us"),
    "chat": _("a chat with us"),
    "order": _("an order"),
    "event": _("an event you registered for"),
    "visit": _("a visit to our website"),
    "note": _("a note of a conversation with you"),
}
ANSWERED_WORDS: Mapping[str, Promise] = {
    "call": _("a call from us that you answered"),
    "email": _("an email from us that you answered"),
    "chat": _("a chat from us that you answered"),
}
REQUIREMENT_WORDS: Mapping[str, Promise] = {
    "open_dialogue": _("while there is an ongoing sales or customer dialogue between you, us and that partner"),
}
RECORD_WORDS: Mapping[str, Promise] = {
    "order_lines": _("Order lines (what was ordered, when and at what price)"),
}
COUNTRY_WORDS: Mapping[str, Promise] = {
    "NO": _("Norway"),
    "SE": _("Sweden"),
    "DK": _("Denmark"),
    "FI": _("Finland"),
    "IS": _("Iceland"),
}


@dataclass(frozen=True)
class Section:
    """A numbered section of the notice, numbered like the published policy (§1-§16)."""

    number: int
    anchor: str
    title: str

    def __str__(self) -> str:
        return f"{self.number}. {self.title}"


@dataclass(frozen=True)
class BasisView:
    """The legal basis of a purpose on one channel, in words (§7)."""

    channel: str
    basis: str
    words: str
    assessment: str
    assessment_dated: dt.date | None
    existing_customer: bool


@dataclass(frozen=True)
class PurposeView:
    """A purpose with its legal basis per channel and the categories it uses (§7, §8)."""

    key: str
    label: str
    bases: tuple[BasisView, ...]
    categories: str
    objectable: bool
    marketing: bool
    consent_channels: str
    consent_months: int = 0  # how long a consent lasts without renewal or engagement (§5)


@dataclass(frozen=True)
class RoleView:
    """A staff role and the purposes it works with (§10); none means it sees no personal data."""

    label: str
    purposes: str


@dataclass(frozen=True)
class CookieView:
    """One cookie: name, purpose and how long it is kept (§15)."""

    name: str
    purpose: str
    duration_days: int


@dataclass(frozen=True)
class CookieCategoryView:
    """A cookie category and whether it needs consent (§15; only necessary cookies do not)."""

    label: str
    consent_required: bool
    purpose: str
    cookies: tuple[CookieView, ...]


@dataclass(frozen=True)
class SubProcessorView:
    """A sub-processor of a processor, with its country and any transfer outside the EEA (§12)."""

    name: str
    service: str
    country: str
    transfer: str


@dataclass(frozen=True)
class ProcessorView:
    """A processor with its data processing agreement, location and sub-processors (§12)."""

    name: str
    role: str
    country: str
    location: str
    agreement_dated: dt.date
    sub_processors: tuple[SubProcessorView, ...]


@dataclass(frozen=True)
class LegalHoldView:
    """Records kept after erasure because a law requires it (§9: bookkeeping)."""

    records: str
    years: int
    basis: str


@dataclass(frozen=True)
class Publication:
    """The notice version in force after ``publish_current``, and whether it is new."""

    version: NoticeVersion
    created: bool


def policy_text(text: str, language: str) -> str:
    """Free text of the policy file in ``language`` from the ``policy`` gettext catalogue; the
    file's own (English) text when the language is the default or has no translation."""
    current = policy.current()
    if language == current.default_language or not text:
        return text
    return _policy_catalogue(str(settings.LOCALE_PATHS[0]), language).gettext(text)


@lru_cache(maxsize=8)
def _policy_catalogue(localedir: str, language: str) -> gettext_module.NullTranslations:
    return gettext_module.translation(POLICY_DOMAIN, localedir=localedir, languages=[language], fallback=True)


def policy_free_texts(current: Policy) -> list[str]:
    """Every free text of the policy file that the notice shows and that the file gives in one
    language only: these need an entry in the ``policy`` catalogue of every other language."""
    texts = [current.storage.system, current.storage.location]
    texts += [a.title for a in current.assessments.values()]
    texts += [hold.basis for hold in current.retention.legal_holds.values()]
    for processor in current.processors.values():
        texts += [processor.role, processor.location]
        for sub in processor.sub_processors:
            texts += [sub.name, sub.service]
    for category in current.cookies.values():
        texts += [cookie.purpose for cookie in category.cookies]
    return sorted(set(texts))


def country_name(code: str) -> str:
    word = COUNTRY_WORDS.get(code.upper())
    return str(word) if word is not None else code


def _label(labels: Mapping[str, str], language: str, current: Policy) -> str:
    return labels.get(language) or labels[current.default_language]


def _words(table: Mapping[str, Promise], keys: Iterable[str]) -> list[str]:
    return [str(table[key]) if key in table else key for key in keys]


def _join(items: Sequence[str]) -> str:
    """Labels in a sentence. A semicolon, since labels themselves may hold commas."""
    return "; ".join(items)


def _either(items: Sequence[str]) -> str:
    """Alternatives in a sentence: "a, b or c"."""
    if len(items) < 2:
        return "".join(items)
    return gettext("%(items)s or %(last)s") % {"items": ", ".join(items[:-1]), "last": items[-1]}


def sections(current: Policy) -> dict[str, Section]:
    """The sixteen sections, in the order and numbering of the published policy, keyed by their
    anchor with ``_`` for ``-`` (template variables cannot hold a hyphen)."""
    name = current.controller.name
    titles: list[tuple[str, str]] = [
        ("contact", gettext("Contact information")),
        ("concepts", gettext("Key concepts")),
        ("controller", gettext("%(name)s is the controller") % {"name": name}),
        ("collect", gettext("What information we collect")),
        ("consent", gettext("Consent and how to withdraw it")),
        ("sources", gettext("Information from other sources")),
        ("purposes", gettext("Purposes and legal bases")),
        ("marketing", gettext("Email, direct marketing and further contact")),
        ("retention", gettext("How long we keep your data")),
        ("inside", gettext("Who can see your data inside %(name)s") % {"name": name}),
        ("partners", gettext("Sharing with partners")),
        ("storage", gettext("Where your data is stored, and who processes it for us")),
        ("rights", gettext("Your rights")),
        ("new-purposes", gettext("New purposes")),
        ("cookies", gettext("Cookies and Global Privacy Control")),
        ("email-phone", gettext("Email and phone")),
    ]
    return {
        anchor.replace("-", "_"): Section(number, anchor, str(title))
        for number, (anchor, title) in enumerate(titles, start=1)
    }


def _purpose_view(current: Policy, purpose: Purpose, language: str) -> PurposeView:
    bases = []
    for channel_key, basis in purpose.bases.items():
        assessment = current.assessments.get(purpose.assessment or "") if basis == "legitimate_interest" else None
        bases.append(
            BasisView(
                channel=_label(current.channels[channel_key].label, language, current),
                basis=basis,
                words=str(BASIS_WORDS.get(basis, basis)),
                assessment=policy_text(assessment.title, language) if assessment else "",
                assessment_dated=assessment.dated if assessment else None,
                existing_customer="existing_customer" in purpose.exceptions.get(channel_key, ()),
            )
        )
    consent_channels = [b.channel for b in bases if b.basis == "consent"]
    return PurposeView(
        key=purpose.key,
        label=_label(purpose.label, language, current),
        bases=tuple(bases),
        categories=_join([_label(current.categories[c].label, language, current) for c in purpose.categories]),
        objectable=purpose.objectable,
        marketing=purpose.marketing,
        consent_channels=_join(consent_channels),
        consent_months=current.consent_lifetime.months.get(purpose.key, 0),
    )


def notice_context(current: Policy, language: str, *, html: bool) -> dict[str, Any]:
    """The facts of the notice for the templates, in ``language`` (call inside
    ``translation.override(language)``). With ``html`` the links are anchors; without, the
    same words in plain text, so both templates say exactly the same sentences."""
    controller = current.controller
    authority = current.supervisory_authority
    purposes = [_purpose_view(current, p, language) for p in current.purposes.values()]
    versions_path = reverse("public:versions")

    def link(href: str, text: str) -> str:
        return format_html('<a href="{}">{}</a>', href, text) if html else text

    roles = []
    for role in current.roles.values():
        purposes_seen = [_label(current.purposes[p].label, language, current) for p in role.access if role.access[p]]
        roles.append(RoleView(label=_label(role.label, language, current), purposes=_join(purposes_seen)))
    cookies = [
        CookieCategoryView(
            label=_label(category.label, language, current),
            consent_required=category.consent_required,
            purpose=_label(current.purposes[category.purpose].label, language, current) if category.purpose else "",
            cookies=tuple(
                CookieView(name=c.name, purpose=policy_text(c.purpose, language), duration_days=c.duration_days)
                for c in category.cookies
            ),
        )
        for category in current.cookies.values()
    ]
    processors = [
        ProcessorView(
            name=p.name,
            role=policy_text(p.role, language),
            country=country_name(p.country),
            location=policy_text(p.location, language),
            agreement_dated=p.agreement_dated,
            sub_processors=tuple(
                SubProcessorView(
                    name=policy_text(s.name, language),
                    service=policy_text(s.service, language),
                    country=country_name(s.country),
                    transfer=transfer_words(s.transfer),
                )
                for s in p.sub_processors
            ),
        )
        for p in current.processors.values()
    ]
    retention = current.retention
    # Sources with section 0 are not part of the published policy (generated demo data).
    published_sources = [s for s in current.sources.values() if s.section > 0]
    return {
        "language": language,
        "sections": sections(current),
        "controller": {
            "name": controller.name,
            "street": controller.street,
            "postcode": controller.postcode,
            "city": controller.city,
            "country": country_name(controller.country),
            "organisation_number": format_organisation_number(controller.organisation_number, controller.country),
            "phone": format_phone(controller.phone),
        },
        "authority": {"name": authority.name, "country": country_name(authority.country)},
        "links": {
            "email": link(f"mailto:{controller.email}", controller.email),
            "rights_email": link(f"mailto:{current.rights.contact_email}", current.rights.contact_email),
            "website": link(controller.website, controller.website),
            "authority": link(authority.website, authority.website),
            "rights": link(RIGHTS_PORTAL_PATH, RIGHTS_PORTAL_PATH),
            "versions": link(versions_path, versions_path),
        },
        "categories": [_label(c.label, language, current) for c in current.categories.values()],
        "direct_sources": [_label(s.label, language, current) for s in published_sources if s.direct],
        "indirect_sources": [_label(s.label, language, current) for s in published_sources if not s.direct],
        # GDPR art. 14(5): the sources for which the policy claims an exemption, and why.
        "exempt_sources": [
            {
                "label": _label(s.label, language, current),
                "article": s.exemption.article,
                "reason": _label(s.exemption.reason, language, current),
            }
            for s in published_sources
            if not s.direct and s.art14 == "exempt" and s.exemption is not None
        ],
        "purposes": purposes,
        "consent_purposes": [p for p in purposes if p.consent_channels],
        "marketing_purposes": [p for p in purposes if p.marketing],
        "has_existing_customer_exception": any(b.existing_customer for p in purposes for b in p.bases),
        "retention": {
            "dialogue_years": retention.dialogue.years,
            "inbound": ", ".join(_words(INBOUND_WORDS, sorted(retention.dialogue.inbound_kinds, key=_kind_order))),
            "answered": ", ".join(
                _words(ANSWERED_WORDS, sorted(retention.dialogue.answered_outbound_kinds, key=_kind_order))
            ),
            "newsletter_years": retention.newsletter.years_after_unsubscribe,
            "customer_while_active": retention.customer.while_active,
            "raw_visit_months": retention.raw_visit_months,
            "customer_months": retention.customer.months_after_last_order,
            "audit_log_months": retention.own_records.audit_log_months,
            "erasure_receipt_months": retention.own_records.erasure_receipt_months,
            "legal_holds": [
                LegalHoldView(
                    records=_join(_words(RECORD_WORDS, hold.records)),
                    years=hold.years,
                    basis=policy_text(hold.basis, language),
                )
                for hold in retention.legal_holds.values()
            ],
        },
        "roles": roles,
        "partners": {
            "sells_data": current.partners.sells_data,
            "requirement": str(REQUIREMENT_WORDS.get(current.partners.requires, current.partners.requires)),
            "categories": _join(
                [_label(current.categories[c].label, language, current) for c in current.partners.categories]
            ),
            "event_categories": _join(
                [_label(current.categories[c].label, language, current) for c in current.partners.event_categories]
            ),
            # GDPR art. 26(2): the essence of each joint controllers' arrangement is published.
            "joint_controllers": [
                {
                    "name": j.name,
                    "agreement_dated": j.agreement_dated,
                    "essence": _label(j.essence, language, current),
                }
                for j in current.joint_controllers.values()
            ],
        },
        "storage": {
            "system": policy_text(current.storage.system, language),
            "location": policy_text(current.storage.location, language),
        },
        "processors": processors,
        "rights": {
            "available": _words(RIGHT_WORDS, current.rights.available),
            "verification": _either(_words(VERIFICATION_WORDS, current.rights.verification)),
            "response_months": current.rights.response_months,
            "extension_months": current.rights.extension_months,
        },
        "inform_before_new_purpose": current.notice.inform_before_new_purpose,
        "cookies": cookies,
        "email_and_phone": current.email_and_phone,
        "cookie_choice_months": current.consent_lifetime.cookie_choice_months,
    }


def _kind_order(kind: str) -> int:
    """Interaction kinds in the order of the vocabulary, so the text does not depend on set order."""
    order = list(INBOUND_WORDS)
    return order.index(kind) if kind in order else len(order)


def normalise_text(text: str) -> str:
    """Plain text as it is stored and hashed: no trailing spaces, at most one blank line in a
    row, one final newline (template tags leave blank lines behind)."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def render_notice_text(language: str) -> str:
    """The privacy notice as plain text in ``language``, from ``public/notice.txt`` and the
    policy in force. This is the text that is versioned and hashed (§14)."""
    current = policy.current()
    if language not in current.languages:
        raise ValueError(f"the policy is not published in {language!r}")
    with translation.override(language):
        return normalise_text(render_to_string("public/notice.txt", notice_context(current, language, html=False)))


def render_notice_texts() -> dict[str, str]:
    """The notice in every language of the policy (§1-§16), keyed by language code."""
    return {language: render_notice_text(language) for language in policy.current().languages}


def publish_current(now: dt.datetime, *, actor: Actor | None = None) -> Publication:
    """Render the notice in every language and publish it (``consent.services.publish_notice``):
    a new version when the texts changed, else the version that already has these texts."""
    current = policy.current()
    texts = render_notice_texts()
    existed = consent_selectors.notice_with_digest(consent_services.notice_digest(texts)) is not None
    version = consent_services.publish_notice(
        actor=actor or Actor.system("notice"),
        now=now,
        texts=texts,
        policy_digest=current.digest,
        purposes=list(current.purposes),
    )
    return Publication(version=version, created=not existed)


def notice_language(request: HttpRequest) -> str:
    """The language of a public page: ``?lang=`` wins, else the language LocaleMiddleware took
    from the request (cookie, Accept-Language), else a Norwegian Accept-Language tag ("no",
    "nn") as Bokmål, else the policy's default language."""
    current = policy.current()
    asked = request.GET.get("lang", "")
    if asked in current.languages:
        return asked
    chosen = getattr(request, "LANGUAGE_CODE", "")
    if chosen in current.languages and chosen != settings.LANGUAGE_CODE:
        return chosen
    for tag, _quality in parse_accept_lang_header(request.headers.get("accept-language", "")):
        base = tag.split("-")[0].lower()
        code = NORWEGIAN_TAGS.get(base, base)
        if code in current.languages:
            return code
    return current.default_language


DiffKind = Literal["same", "added", "removed", "gap"]


@dataclass(frozen=True)
class DiffSegment:
    text: str
    changed: bool


@dataclass(frozen=True)
class DiffLine:
    """One line of a readable diff: unchanged, added, removed, or a gap of unchanged lines.
    Within a changed paragraph the changed words are marked (``DiffSegment.changed``)."""

    kind: DiffKind
    segments: tuple[DiffSegment, ...]


def _word_diff(old: str, new: str) -> tuple[DiffLine, DiffLine]:
    a, b = re.findall(r"\s+|\S+", old), re.findall(r"\s+|\S+", new)
    removed: list[DiffSegment] = []
    added: list[DiffSegment] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            removed.append(DiffSegment("".join(a[i1:i2]), False))
            added.append(DiffSegment("".join(b[j1:j2]), False))
            continue
        if i2 > i1:
            removed.append(DiffSegment("".join(a[i1:i2]), True))
        if j2 > j1:
            added.append(DiffSegment("".join(b[j1:j2]), True))
    return DiffLine("removed", tuple(removed)), DiffLine("added", tuple(added))


def diff_texts(old: str, new: str, *, context: int = 1) -> list[DiffLine]:
    """A readable diff of two notice texts (one paragraph per line, blank lines ignored): the
    changed paragraphs with ``context`` unchanged ones around them; a changed paragraph is
    shown removed and added, with the changed words marked."""
    a = [line for line in old.splitlines() if line.strip()]  # blank lines only separate paragraphs
    b = [line for line in new.splitlines() if line.strip()]
    lines: list[DiffLine] = []
    groups = list(difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context))
    for number, group in enumerate(groups):
        if number or group[0][1] > 0:
            lines.append(DiffLine("gap", ()))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(DiffLine("same", (DiffSegment(line, False),)) for line in a[i1:i2])
                continue
            paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
            for offset in range(paired):
                lines.extend(_word_diff(a[i1 + offset], b[j1 + offset]))
            lines.extend(DiffLine("removed", (DiffSegment(line, True),)) for line in a[i1 + paired : i2])
            lines.extend(DiffLine("added", (DiffSegment(line, True),)) for line in b[j1 + paired : j2])
    if groups and groups[-1][-1][2] < len(a):
        lines.append(DiffLine("gap", ()))
    return lines
