"""Load ``policy/avara.toml`` into frozen objects and validate it.

Every problem is reported as a ``PolicyError`` whose message is one line naming the dotted
key and what is wrong with it, e.g. ``purposes.newsletter.bases.email: unknown legal basis
'consnt' (expected one of: consent, contract, legal_obligation, legitimate_interest)``.
Validation covers types, unknown keys, missing keys and every cross-reference (a role that
names a purpose that does not exist, a retention rule that names an unknown interaction kind).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from tillit.core import vocabulary as vocab
from tillit.policy import assessments as rules
from tillit.policy import schema as s

T = TypeVar("T")


class PolicyError(Exception):
    """The policy file is broken. ``str(error)`` is one line: ``key: problem``."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


class _Table:
    """A TOML table read strictly: every key must be taken, or it is reported as unknown."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise PolicyError(path, f"expected a table, got {_kind(data)}")
        self.data: dict[str, Any] = data
        self.path = path
        self.taken: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _get(self, name: str, expected: type | tuple[type, ...], label: str, default: Any) -> Any:
        self.taken.add(name)
        if name not in self.data:
            if default is not _REQUIRED:
                return default
            raise PolicyError(self.key(name), "missing")
        value = self.data[name]
        # bool is an int in Python; a policy that says `years = true` is still wrong.
        if isinstance(value, bool) and bool not in _as_tuple(expected):
            raise PolicyError(self.key(name), f"expected {label}, got {_kind(value)}")
        if not isinstance(value, expected):
            raise PolicyError(self.key(name), f"expected {label}, got {_kind(value)}")
        return value

    def text(self, name: str) -> str:
        value = self._get(name, str, "a string", _REQUIRED)
        if not value.strip():
            raise PolicyError(self.key(name), "must not be empty")
        return str(value)

    def optional_text(self, name: str) -> str | None:
        value = self._get(name, str, "a string", None)
        return None if value is None else str(value)

    def integer(self, name: str, *, minimum: int = 0) -> int:
        value = int(self._get(name, int, "an integer", _REQUIRED))
        if value < minimum:
            raise PolicyError(self.key(name), f"must be at least {minimum}, got {value}")
        return value

    def boolean(self, name: str) -> bool:
        return bool(self._get(name, bool, "true or false", _REQUIRED))

    def optional_boolean(self, name: str) -> bool | None:
        value = self._get(name, bool, "true or false", None)
        return None if value is None else bool(value)

    def date(self, name: str) -> dt.date:
        value = self._get(name, dt.date, "a date (YYYY-MM-DD)", _REQUIRED)
        if isinstance(value, dt.datetime):
            raise PolicyError(self.key(name), "expected a date (YYYY-MM-DD), got a date and time")
        return value  # type: ignore[no-any-return]

    def strings(self, name: str, *, allowed: tuple[str, ...] | None = None, what: str = "value") -> tuple[str, ...]:
        raw = self._get(name, list, "a list of strings", _REQUIRED)
        return _strings(raw, self.key(name), allowed=allowed, what=what)

    def table(self, name: str, *, optional: bool = False) -> _Table:
        raw = self._get(name, dict, "a table", {} if optional else _REQUIRED)
        return _Table(raw, self.key(name))

    def tables(self, name: str) -> dict[str, _Table]:
        """A table of named sub-tables, e.g. ``[purposes.*]``; at least one is required."""
        outer = self.table(name)
        if not outer.data:
            raise PolicyError(outer.path, "must define at least one entry")
        result = {child: outer.table(child) for child in outer.data}
        outer.done()
        return result

    def optional_tables(self, name: str) -> dict[str, _Table]:
        """Like ``tables``, but the section may be absent or empty."""
        outer = self.table(name, optional=True)
        result = {child: outer.table(child) for child in outer.data}
        outer.done()
        return result

    def labels(self, name: str, languages: tuple[str, ...]) -> s.Labels:
        table = self.table(name)
        result = {}
        for language in languages:
            result[language] = table.text(language)
        table.done()
        return s.frozen_map(result)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.taken)
        if unknown:
            raise PolicyError(self.key(unknown[0]), "unknown key")


class _Required:
    pass


_REQUIRED = _Required()


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, dt.datetime):
        return "a date and time"
    if isinstance(value, dt.date):
        return "a date"
    return type(value).__name__


def _strings(raw: Any, key: str, *, allowed: tuple[str, ...] | None, what: str) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise PolicyError(key, f"expected a list of strings, got {_kind(raw)}")
    result: list[str] = []
    for index, item in enumerate(raw):
        if not isinstance(item, str):
            raise PolicyError(f"{key}[{index}]", f"expected a string, got {_kind(item)}")
        if allowed is not None and item not in allowed:
            raise PolicyError(key, f"unknown {what} {item!r} (expected one of: {', '.join(allowed)})")
        if item in result:
            raise PolicyError(key, f"{what} {item!r} is listed twice")
        result.append(item)
    return tuple(result)


def _each(tables: dict[str, _Table], build: Callable[[str, _Table], T]) -> dict[str, T]:
    result = {}
    for key, table in tables.items():
        result[key] = build(key, table)
        table.done()
    return result


def parse_policy(text: str, *, digest: str | None = None) -> s.Policy:
    """Parse and validate policy TOML text. Raises ``PolicyError`` on the first problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError("", f"not valid TOML: {error}") from None
    root = _Table(raw, "")

    meta = root.table("meta")
    name = meta.text("name")
    languages = meta.strings("languages", what="language")
    if "en" not in languages:
        raise PolicyError("meta.languages", "must include 'en'")
    default_language = meta.text("default_language")
    if default_language not in languages:
        raise PolicyError("meta.default_language", f"{default_language!r} is not in meta.languages")
    meta.strings("source_documents", what="document")
    meta.done()

    c = root.table("controller")
    controller = s.Controller(
        name=c.text("name"),
        organisation_number=c.text("organisation_number"),
        street=c.text("street"),
        postcode=c.text("postcode"),
        city=c.text("city"),
        country=c.text("country"),
        email=c.text("email"),
        phone=c.text("phone"),
        website=c.text("website"),
    )
    c.done()
    _check_orgnr(controller.organisation_number, "controller.organisation_number")
    _check_email(controller.email, "controller.email")

    sa = root.table("supervisory_authority")
    authority = s.SupervisoryAuthority(name=sa.text("name"), website=sa.text("website"), country=sa.text("country"))
    sa.done()

    categories = _each(
        root.tables("categories"),
        lambda key, t: s.Category(key=key, section=_section(t), label=t.labels("label", languages)),
    )
    category_keys = tuple(categories)
    sources = _each(root.tables("sources"), lambda key, t: _source(key, t, languages))
    sole_proprietorships = _sole_proprietorships(root.table("sole_proprietorships"))
    channels = _each(root.tables("channels"), lambda key, t: s.Channel(key=key, label=t.labels("label", languages)))
    channel_keys = tuple(channels)
    assessments = _each(
        root.tables("assessments"),
        lambda key, t: s.Assessment(key=key, title=t.text("title"), dated=t.date("dated")),
    )
    compatibility = _each(root.optional_tables("compatibility"), _compatibility)
    impact_assessments = _each(root.optional_tables("impact_assessments"), _impact_assessment)

    def build_purpose(key: str, t: _Table) -> s.Purpose:
        bases_table = t.table("bases")
        if not bases_table.data:
            raise PolicyError(bases_table.path, "must give a legal basis for at least one channel")
        bases = {}
        for channel in list(bases_table.data):
            if channel not in channel_keys:
                raise PolicyError(
                    bases_table.key(channel), f"unknown channel (expected one of: {', '.join(channel_keys)})"
                )
            basis = bases_table.text(channel)
            if basis not in vocab.LEGAL_BASES:
                raise PolicyError(
                    bases_table.key(channel),
                    f"unknown legal basis {basis!r} (expected one of: {', '.join(vocab.LEGAL_BASES)})",
                )
            bases[channel] = basis
        bases_table.done()
        exceptions_table = t.table("exceptions", optional=True)
        exceptions = {}
        for channel in list(exceptions_table.data):
            if channel not in bases:
                raise PolicyError(
                    exceptions_table.key(channel), "an exception for a channel the purpose has no basis for"
                )
            if bases[channel] != "consent":
                raise PolicyError(
                    exceptions_table.key(channel), "exceptions apply only to a channel whose basis is consent"
                )
            exceptions[channel] = exceptions_table.strings(channel, allowed=vocab.CONSENT_EXCEPTIONS, what="exception")
        exceptions_table.done()
        assessment = t.optional_text("assessment")
        if "legitimate_interest" in bases.values() and assessment is None:
            raise PolicyError(t.key("assessment"), "a purpose resting on legitimate interest needs an assessment")
        if assessment is not None and assessment not in assessments:
            raise PolicyError(t.key("assessment"), f"unknown assessment {assessment!r}")
        compatible = t.optional_text("compatibility")
        if compatible is not None and compatible not in compatibility:
            raise PolicyError(t.key("compatibility"), f"unknown compatibility assessment {compatible!r}")
        profiling = t.optional_boolean("profiling")
        impact = t.optional_text("impact_assessment")
        if impact is not None and impact not in impact_assessments:
            raise PolicyError(t.key("impact_assessment"), f"unknown impact assessment {impact!r}")
        return s.Purpose(
            key=key,
            section=_section(t),
            label=t.labels("label", languages),
            bases=s.frozen_map(bases),
            exceptions=s.frozen_map(exceptions),
            assessment=assessment,
            objectable=t.boolean("objectable"),
            marketing=t.boolean("marketing"),
            categories=t.strings("categories", allowed=category_keys, what="category"),
            requires=_purpose_requires(t),
            compatibility=compatible,
            profiling=bool(profiling),
            impact_assessment=impact,
        )

    purposes = _each(root.tables("purposes"), build_purpose)
    purpose_keys = tuple(purposes)
    _check_impact_assessments(purposes)

    retention = _retention(root.table("retention"))

    def build_role(key: str, t: _Table) -> s.Role:
        access_table = t.table("access", optional=True)
        access = {}
        for purpose in list(access_table.data):
            if purpose not in purposes:
                raise PolicyError(
                    access_table.key(purpose), f"unknown purpose (expected one of: {', '.join(purpose_keys)})"
                )
            visible = access_table.strings(purpose, allowed=category_keys, what="category")
            outside = [c for c in visible if c not in purposes[purpose].categories]
            if outside:
                raise PolicyError(
                    access_table.key(purpose), f"category {outside[0]!r} is not used by purpose {purpose!r}"
                )
            access[purpose] = frozenset(visible)
        access_table.done()
        return s.Role(
            key=key,
            section=_section(t),
            label=t.labels("label", languages),
            access=s.frozen_map(access),
            tools=frozenset(t.strings("tools", allowed=vocab.TOOLS, what="tool")),
        )

    roles = _each(root.tables("roles"), build_role)

    p = root.table("partners")
    partners = s.PartnerRules(
        section=_section(p),
        sells_data=p.boolean("sells_data"),
        requires=p.text("requires"),
        categories=p.strings("categories", allowed=category_keys, what="category"),
        event_categories=p.strings("event_categories", allowed=category_keys, what="category"),
        dialogues=s.frozen_map(_dialogues(p.table("dialogues"), purposes)),
    )
    p.done()
    if partners.sells_data:
        raise PolicyError("partners.sells_data", "the published policy (§11) says personal data is never sold")
    if partners.requires not in vocab.PARTNER_REQUIREMENTS:
        raise PolicyError("partners.requires", f"unknown requirement {partners.requires!r}")

    for needs in purposes.values():
        if needs.requires == "open_dialogue" and needs.key not in partners.dialogues.values():
            raise PolicyError(
                f"purposes.{needs.key}.requires", "no kind of dialogue serves this purpose ([partners] dialogues)"
            )
    dialogue_rules = _dialogue_rules(root.table("dialogues"), partners.dialogues)
    product_categories, products = _products(root, languages)

    st = root.table("storage")
    storage = s.Storage(section=_section(st), system=st.text("system"), location=st.text("location"))
    st.done()

    def build_processor(key: str, t: _Table) -> s.Processor:
        raw_subs = t._get("sub_processors", list, "a list of tables", [])
        subs = []
        for index, item in enumerate(raw_subs):
            sub = _Table(item, f"{t.key('sub_processors')}[{index}]")
            subs.append(_sub_processor(sub))
            sub.done()
        return s.Processor(
            key=key,
            section=_section(t),
            name=t.text("name"),
            role=t.text("role"),
            country=t.text("country"),
            agreement_dated=t.date("agreement_dated"),
            location=t.text("location"),
            sub_processors=tuple(subs),
            agreement_reference=t.text("agreement_reference"),
        )

    processors = _each(root.tables("processors"), build_processor)
    joint_controllers = _each(
        root.optional_tables("joint_controllers"), lambda key, t: _joint_controller(key, t, languages)
    )

    r = root.table("rights")
    rights = s.Rights(
        section=_section(r),
        available=r.strings("available", allowed=vocab.RIGHTS, what="right"),
        verification=r.strings("verification", allowed=vocab.VERIFICATION_METHODS, what="verification method"),
        response_months=r.integer("response_months", minimum=1),
        extension_months=r.integer("extension_months"),
        contact_email=r.text("contact_email"),
    )
    r.done()
    _check_email(rights.contact_email, "rights.contact_email")

    restriction = _restriction_rules(root.table("restriction", optional=True), roles, purposes)

    n = root.table("notice")
    notice = s.NoticeRules(
        section=_section(n),
        inform_before_new_purpose=n.boolean("inform_before_new_purpose"),
        original_purposes=n.strings("original_purposes", allowed=purpose_keys, what="purpose"),
    )
    n.done()
    _check_compatibility(purposes, notice.original_purposes)

    def build_cookie_category(key: str, t: _Table) -> s.CookieCategory:
        consent_required = t.boolean("consent_required")
        purpose = t.optional_text("purpose")
        if purpose is not None and purpose not in purposes:
            raise PolicyError(t.key("purpose"), f"unknown purpose {purpose!r}")
        if consent_required and purpose is None:
            raise PolicyError(t.key("purpose"), "a cookie category that needs consent must name its purpose")
        raw_cookies = t._get("cookies", list, "a list of tables", _REQUIRED)
        cookies = []
        for index, item in enumerate(raw_cookies):
            ct = _Table(item, f"{t.key('cookies')}[{index}]")
            cookies.append(
                s.Cookie(
                    name=ct.text("name"),
                    purpose=ct.text("purpose"),
                    duration_days=ct.integer("duration_days", minimum=1),
                )
            )
            ct.done()
        return s.CookieCategory(
            key=key,
            section=_section(t),
            consent_required=consent_required,
            purpose=purpose,
            label=t.labels("label", languages),
            cookies=tuple(cookies),
        )

    cookies = _each(root.tables("cookies"), build_cookie_category)
    if not any(not c.consent_required for c in cookies.values()):
        raise PolicyError("cookies", "must define a category of strictly necessary cookies (consent_required = false)")

    consent_lifetime = _consent_lifetime(root.table("consent_lifetime"), purposes)

    e = root.table("email_and_phone")
    email_and_phone = s.EmailAndPhone(
        section=_section(e),
        log_calls_and_emails=e.boolean("log_calls_and_emails"),
        mailbox_review_months=e.integer("mailbox_review_months", minimum=1),
        sensitive_data_by_email=e.boolean("sensitive_data_by_email"),
        mailbox_review_reminder_days=e.integer("mailbox_review_reminder_days", minimum=1),
    )
    e.done()
    telemarketing = _telemarketing(root.table("telemarketing"))
    root.done()

    for role in roles.values():
        for purpose in role.access:
            if not purposes[purpose].categories:
                raise PolicyError(f"roles.{role.key}.access.{purpose}", "the purpose uses no categories")

    return s.Policy(
        name=name,
        languages=languages,
        default_language=default_language,
        controller=controller,
        supervisory_authority=authority,
        categories=s.frozen_map(categories),
        sources=s.frozen_map(sources),
        channels=s.frozen_map(channels),
        assessments=s.frozen_map(assessments),
        purposes=s.frozen_map(purposes),
        retention=retention,
        roles=s.frozen_map(roles),
        partners=partners,
        storage=storage,
        processors=s.frozen_map(processors),
        rights=rights,
        notice=notice,
        cookies=s.frozen_map(cookies),
        email_and_phone=email_and_phone,
        digest=digest or hashlib.sha256(text.encode()).hexdigest(),
        source_text=text,
        dialogues=dialogue_rules,
        product_categories=s.frozen_map(product_categories),
        products=s.frozen_map(products),
        restriction=restriction,
        consent_lifetime=consent_lifetime,
        telemarketing=telemarketing,
        compatibility=s.frozen_map(compatibility),
        impact_assessments=s.frozen_map(impact_assessments),
        joint_controllers=s.frozen_map(joint_controllers),
        sole_proprietorships=sole_proprietorships,
    )


def _compatibility(key: str, t: _Table) -> s.CompatibilityAssessment:
    """``[compatibility.*]`` (art. 6(4)): a title, a date and each factor (a)-(e) in words."""
    return s.CompatibilityAssessment(
        key=key,
        title=t.text("title"),
        dated=t.date("dated"),
        link=t.text("link"),
        context=t.text("context"),
        nature=t.text("nature"),
        consequences=t.text("consequences"),
        safeguards=t.text("safeguards"),
    )


def _impact_assessment(key: str, t: _Table) -> s.ImpactAssessment:
    """``[impact_assessments.*]`` (art. 35): a DPIA or a screening, its document and date."""
    kind = t.text("kind")
    if kind not in rules.IMPACT_ASSESSMENT_KINDS:
        raise PolicyError(
            t.key("kind"), f"unknown kind {kind!r} (expected one of: {', '.join(rules.IMPACT_ASSESSMENT_KINDS)})"
        )
    return s.ImpactAssessment(
        key=key,
        kind=kind,
        title=t.text("title"),
        reference=t.text("reference"),
        dated=t.date("dated"),
        conclusion=t.text("conclusion"),
    )


def _check_impact_assessments(purposes: Mapping[str, s.Purpose]) -> None:
    for purpose in purposes.values():
        if purpose.marketing and "web" in purpose.bases and not purpose.profiling:
            raise PolicyError(
                f"purposes.{purpose.key}.profiling",
                "a marketing purpose on the web channel profiles visitors: set profiling = true",
            )
        if rules.profiles(purpose) and purpose.impact_assessment is None:
            raise PolicyError(
                f"purposes.{purpose.key}.impact_assessment",
                "a purpose that profiles people needs a DPIA or a documented screening (art. 35)",
            )


def _check_compatibility(purposes: Mapping[str, s.Purpose], original: tuple[str, ...]) -> None:
    for purpose in purposes.values():
        if purpose.key in original or not rules.needs_compatibility(purpose):
            continue
        if purpose.compatibility is None:
            raise PolicyError(
                f"purposes.{purpose.key}.compatibility",
                "a purpose added after collection (not in notice.original_purposes) that does not rest on "
                "consent needs a compatibility assessment (art. 6(4))",
            )


def _sole_proprietorships(t: _Table) -> s.SoleProprietorships:
    """``[sole_proprietorships]`` (§6): the register's organisation forms that are a person."""
    forms = t.strings("forms", what="organisation form")
    for form in forms:
        if not form.isascii() or not form.isalnum() or not form.isupper() or len(form) > 10:
            raise PolicyError(t.key("forms"), f"{form!r} is not a register organisation form code like 'ENK'")
    result = s.SoleProprietorships(
        section=_section(t), forms=frozenset(forms), years=t.integer("years_without_person", minimum=1)
    )
    t.done()
    return result


def _sub_processor(sub: _Table) -> s.SubProcessor:
    """A sub-processor: a named entity, its country (ISO 3166-1 alpha-2) and, outside the EEA,
    its transfer mechanism (GDPR chapter V). Inside the EEA there is no transfer to name."""
    country = sub.text("country")
    if len(country) != 2 or not country.isascii() or not country.isupper() or not country.isalpha():
        raise PolicyError(sub.key("country"), f"expected a two-letter country code like 'NO', got {country!r}")
    transfer = sub.optional_text("transfer")
    if rules.outside_eea(country):
        if transfer is None:
            raise PolicyError(
                sub.key("transfer"),
                f"missing ({country} is outside the EEA: name the transfer mechanism, one of: "
                f"{', '.join(rules.TRANSFER_MECHANISMS)})",
            )
        if transfer not in rules.TRANSFER_MECHANISMS:
            raise PolicyError(
                sub.key("transfer"),
                f"unknown transfer mechanism {transfer!r} (expected one of: {', '.join(rules.TRANSFER_MECHANISMS)})",
            )
    elif transfer is not None:
        raise PolicyError(sub.key("transfer"), f"{country} is in the EEA: there is no transfer to name")
    return s.SubProcessor(name=sub.text("name"), service=sub.text("service"), country=country, transfer=transfer)


def _joint_controller(key: str, t: _Table, languages: tuple[str, ...]) -> s.JointController:
    """``[joint_controllers.<partner key>]`` (art. 26): the agreement and its essence in every
    published language (art. 26(2): the notice publishes it)."""
    return s.JointController(
        key=key,
        section=_section(t),
        name=t.text("name"),
        agreement_reference=t.text("agreement_reference"),
        agreement_dated=t.date("agreement_dated"),
        essence=t.labels("essence", languages),
    )


def _restriction_rules(t: _Table, roles: Mapping[str, Any], purposes: Mapping[str, Any]) -> s.RestrictionRules:
    """``[restriction]`` (GDPR art. 18(2)): the roles that may still read a restricted person
    and the purposes restricted data may still serve; both must exist in the policy."""
    if not t.data:
        return s.RestrictionRules()
    rules = s.RestrictionRules(
        section=_section(t),
        readers=t.strings("readers", allowed=tuple(roles), what="role"),
        purposes=t.strings("purposes", allowed=tuple(purposes), what="purpose"),
    )
    t.done()
    return rules


ART14_CHOICES = ("notify", "exempt")
ART14_EXEMPTIONS = ("14(5)(a)", "14(5)(b)", "14(5)(c)", "14(5)(d)")


def _source(key: str, t: _Table, languages: tuple[str, ...]) -> s.Source:
    """A source (§4, §6). A published source we do not hear from the person through must say
    how GDPR art. 14 is met: ``art14 = "notify"`` (each person is told within a month) or
    ``art14 = "exempt"`` with ``exemption = { article = "14(5)(b)", reason = {...} }``."""
    section = t.integer("section")
    direct = t.boolean("direct")
    label = t.labels("label", languages)
    art14 = t.optional_text("art14")
    exemption = None
    if art14 is not None and art14 not in ART14_CHOICES:
        raise PolicyError(t.key("art14"), f"unknown choice {art14!r} (expected one of: {', '.join(ART14_CHOICES)})")
    if direct and art14 is not None:
        raise PolicyError(t.key("art14"), "only a source with direct = false needs the art. 14 notice")
    if not direct and section > 0 and art14 is None:
        raise PolicyError(t.key("art14"), "missing (an indirect source must say how people are told: notify or exempt)")
    if art14 == "exempt":
        e = t.table("exemption")
        article = e.text("article")
        if article not in ART14_EXEMPTIONS:
            raise PolicyError(
                e.key("article"), f"unknown exemption {article!r} (expected one of: {', '.join(ART14_EXEMPTIONS)})"
            )
        exemption = s.Exemption(article=article, reason=e.labels("reason", languages))
        e.done()
    elif "exemption" in t.data:
        t.table("exemption")
        raise PolicyError(t.key("exemption"), 'only a source with art14 = "exempt" claims an exemption')
    return s.Source(key=key, section=section, direct=direct, label=label, art14=art14, exemption=exemption)


def _purpose_requires(t: _Table) -> str | None:
    requires = t.optional_text("requires")
    if requires is not None and requires not in vocab.PARTNER_REQUIREMENTS:
        raise PolicyError(
            t.key("requires"),
            f"unknown requirement {requires!r} (expected one of: {', '.join(vocab.PARTNER_REQUIREMENTS)})",
        )
    return requires


def _dialogue_rules(t: _Table, kinds: Mapping[str, str]) -> s.DialogueRules:
    """``[dialogues]``: the inbound kinds that are requests, and the kind of dialogue they open."""
    rules = s.DialogueRules(
        section=_section(t),
        requests=frozenset(t.strings("requests", allowed=vocab.INTERACTION_KINDS, what="interaction kind")),
        opens=t.text("opens"),
    )
    if rules.opens not in kinds:
        raise PolicyError(t.key("opens"), f"unknown kind of dialogue {rules.opens!r} (see [partners] dialogues)")
    t.done()
    return rules


def _products(root: _Table, languages: tuple[str, ...]) -> tuple[dict[str, s.ProductCategory], dict[str, s.Product]]:
    """``[product_categories.*]`` and ``[products.*]`` (§8, mfl. §15(3)): every product in a
    known category, names unique (an order line names a product by key or name)."""
    categories = _each(
        root.tables("product_categories"), lambda key, t: s.ProductCategory(key=key, label=t.labels("label", languages))
    )
    products = _each(
        root.tables("products"), lambda key, t: s.Product(key=key, name=t.text("name"), category=t.text("category"))
    )
    names: set[str] = set()
    for product in products.values():
        if product.category not in categories:
            raise PolicyError(f"products.{product.key}.category", f"unknown product category {product.category!r}")
        if product.key in categories:
            raise PolicyError(f"products.{product.key}", "a product and a product category share this key")
        if product.name.casefold() in names:
            raise PolicyError(f"products.{product.key}.name", f"the name {product.name!r} is used twice")
        names.add(product.name.casefold())
    return categories, products


def _dialogues(t: _Table, purposes: Mapping[str, s.Purpose]) -> dict[str, str]:
    """``[partners] dialogues``: kind of dialogue -> the purpose it serves (not a marketing one)."""
    if not t.data:
        raise PolicyError(t.path, "must define at least one kind of dialogue")
    result = {}
    for kind in t.data:
        purpose = t.text(kind)
        if purpose not in purposes:
            raise PolicyError(t.key(kind), f"unknown purpose {purpose!r}")
        if purposes[purpose].marketing:
            raise PolicyError(t.key(kind), f"a dialogue cannot serve the marketing purpose {purpose!r}")
        result[kind] = purpose
    t.done()
    return result


def _section(t: _Table) -> int:
    value = t.integer("section")
    if value > 16:
        raise PolicyError(t.key("section"), f"the published policy has sections 1 to 16, got {value}")
    return value


def _retention(t: _Table) -> s.Retention:
    d = t.table("dialogue")
    dialogue = s.DialogueRetention(
        section=_section(d),
        years=d.integer("years", minimum=1),
        inbound_kinds=frozenset(d.strings("inbound_kinds", allowed=vocab.INTERACTION_KINDS, what="interaction kind")),
        answered_outbound_kinds=frozenset(
            d.strings("answered_outbound_kinds", allowed=vocab.INTERACTION_KINDS, what="interaction kind")
        ),
    )
    d.done()
    nl = t.table("newsletter")
    newsletter = s.NewsletterRetention(
        section=_section(nl), years_after_unsubscribe=nl.integer("years_after_unsubscribe", minimum=1)
    )
    nl.done()
    cu = t.table("customer")
    customer = s.CustomerRetention(
        section=_section(cu),
        while_active=cu.boolean("while_active"),
        months_after_last_order=cu.integer("months_after_last_order", minimum=1),
    )
    cu.done()
    holds_table = t.table("legal_holds", optional=True)
    holds = {}
    for key in list(holds_table.data):
        h = holds_table.table(key)
        holds[key] = s.LegalHold(
            key=key,
            section=_section(h),
            records=h.strings("records", allowed=vocab.HOLDABLE_RECORDS, what="record type"),
            years=h.integer("years", minimum=1),
            basis=h.text("basis"),
        )
        h.done()
    holds_table.done()
    rv = t.table("raw_visits")
    rv.integer("section")
    raw_visit_months = rv.integer("months", minimum=1)
    rv.done()
    own = t.table("own_records")
    own_records = s.OwnRecordsRetention(
        section=_section(own),
        audit_log_months=own.integer("audit_log_months", minimum=1),
        erasure_receipt_months=own.integer("erasure_receipt_months", minimum=1),
    )
    own.done()
    t.done()
    return s.Retention(
        dialogue=dialogue,
        newsletter=newsletter,
        customer=customer,
        legal_holds=s.frozen_map(holds),
        raw_visit_months=raw_visit_months,
        own_records=own_records,
    )


def _consent_lifetime(t: _Table, purposes: Mapping[str, s.Purpose]) -> s.ConsentLifetime:
    """``[consent_lifetime]``: a lifetime in months for every purpose that rests on consent on
    some channel; the engagement that renews it; the renewal email's window; the
    cookie choice's validity."""
    section = _section(t)
    months_table = t.table("months")
    months = {}
    for purpose in list(months_table.data):
        if purpose not in purposes:
            raise PolicyError(months_table.key(purpose), "unknown purpose")
        # A lifetime for a purpose resting on no consent (e.g. one moved to a legitimate
        # interest) is not an error: it has no effect until the purpose rests on consent again.
        months[purpose] = months_table.integer(purpose, minimum=1)
    months_table.done()
    for key, purpose_rule in purposes.items():
        if "consent" in purpose_rule.bases.values() and key not in months:
            raise PolicyError(months_table.key(key), "missing: every purpose resting on consent needs a lifetime")
    kinds = vocab.INTERACTION_KINDS
    result = s.ConsentLifetime(
        section=section,
        months=s.frozen_map(months),
        engagement_inbound_kinds=frozenset(
            t.strings("engagement_inbound_kinds", allowed=kinds, what="interaction kind")
        ),
        engagement_answered_outbound_kinds=frozenset(
            t.strings("engagement_answered_outbound_kinds", allowed=kinds, what="interaction kind")
        ),
        renewal_days_before=t.integer("renewal_days_before", minimum=1),
        cookie_choice_months=t.integer("cookie_choice_months", minimum=1),
    )
    t.done()
    for key, value in result.months.items():
        if result.renewal_days_before >= value * 28:
            raise PolicyError(t.key("renewal_days_before"), f"must be shorter than the lifetime of {key}")
    return result


def _check_orgnr(value: str, key: str) -> None:
    from stdnum.no import orgnr

    if not orgnr.is_valid(value):
        raise PolicyError(key, f"{value!r} is not a valid Norwegian organisation number")


def _check_email(value: str, key: str) -> None:
    if "@" not in value or value.startswith("@") or value.endswith("@"):
        raise PolicyError(key, f"{value!r} is not an email address")


def load_policy(path: Path) -> s.Policy:
    """Read and validate the policy file at ``path``."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PolicyError("", f"cannot read policy file {path}: {error.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError("", f"policy file {path} is not UTF-8") from None
    return parse_policy(text, digest=hashlib.sha256(data).hexdigest())


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _telemarketing(t: _Table) -> s.Telemarketing:
    """``[telemarketing]``, §8 by phone (markedsføringsloven §§12-14): the register extract's
    maximum age, the days and the window of permitted calls in a time zone, the holidays."""
    import zoneinfo

    def minute(name: str) -> int:
        value = t.text(name)
        try:
            parsed = dt.time.fromisoformat(value)
        except ValueError:
            raise PolicyError(t.key(name), f"expected a time HH:MM, got {value!r}") from None
        return parsed.hour * 60 + parsed.minute

    zone = t.text("timezone")
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PolicyError(t.key("timezone"), f"unknown time zone {zone!r}") from None
    days = t.strings("days", allowed=WEEKDAYS, what="day")
    starts, ends = minute("starts"), minute("ends")
    if ends <= starts:
        raise PolicyError(t.key("ends"), "must be later than starts")
    holidays = []
    for value in t.strings("holidays", what="holiday"):
        try:
            day = dt.date.fromisoformat(f"2000-{value}")  # a leap year: 02-29 is a date
        except ValueError:
            raise PolicyError(t.key("holidays"), f"expected a date MM-DD, got {value!r}") from None
        holidays.append((day.month, day.day))
    offsets = t._get("easter_holidays", list, "a list of integers", _REQUIRED)
    for index, offset in enumerate(offsets):
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise PolicyError(f"{t.key('easter_holidays')}[{index}]", f"expected an integer, got {_kind(offset)}")
    result = s.Telemarketing(
        section=_section(t),
        register_max_age_months=t.integer("register_max_age_months", minimum=1),
        timezone=zone,
        days=tuple(WEEKDAYS.index(d) for d in days),
        starts_minute=starts,
        ends_minute=ends,
        holidays=tuple(holidays),
        easter_holidays=tuple(offsets),
    )
    t.done()
    return result
