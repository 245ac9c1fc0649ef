"""The policy file loads into frozen objects, and every kind of breakage stops it with one
line naming the key and the problem."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tillit.policy.loader import PolicyError, load_policy, parse_policy

POLICY_FILE = Path(__file__).resolve().parents[2] / "policy" / "avara.toml"
TEXT = POLICY_FILE.read_text()


def broken(old: str, new: str) -> str:
    assert old in TEXT, f"test set-up: {old!r} is not in the policy file"
    return TEXT.replace(old, new, 1)


def test_the_policy_file_loads_with_every_published_section():
    policy = load_policy(POLICY_FILE)
    assert policy.controller.name == "Avara AS"
    assert policy.controller.organisation_number == "923130969"
    assert policy.retention.dialogue.years == 2
    assert policy.retention.newsletter.years_after_unsubscribe == 2
    assert set(policy.roles) == {"marketing", "customer_support", "sales", "privacy_officer", "administrator"}
    assert policy.partners.categories == ("name", "email", "phone", "organisation")
    assert policy.partners.sells_data is False
    assert [p.name for p in policy.processors.values()] == ["7Sense AS"]
    assert policy.purposes["direct_marketing"].bases == {"email": "consent", "phone": "legitimate_interest"}
    assert policy.purposes["direct_marketing"].exceptions["email"] == ("existing_customer",)
    assert policy.purposes["statistics"].bases == {"web": "consent"}
    sections = {
        *(c.section for c in policy.categories.values()),
        *(p.section for p in policy.purposes.values()),
        *(r.section for r in policy.roles.values()),
        policy.retention.dialogue.section,
        policy.partners.section,
        policy.storage.section,
        policy.rights.section,
        policy.notice.section,
        policy.email_and_phone.section,
        *(c.section for c in policy.cookies.values()),
    }
    # §1-3 (controller, concepts) are the [controller] table; every other section has a home.
    assert {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16} <= sections


def test_the_loaded_policy_cannot_be_changed():
    policy = load_policy(POLICY_FILE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.controller.name = "Someone else"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.purposes["newsletter"] = policy.purposes["statistics"]  # type: ignore[index]


def test_the_digest_identifies_the_file_content():
    assert load_policy(POLICY_FILE).digest == parse_policy(TEXT).digest
    assert parse_policy(TEXT).digest != parse_policy(TEXT + "\n# a comment\n").digest


@pytest.mark.parametrize(
    ("_case", "text", "key", "problem"),
    [
        ("not TOML", TEXT + "\n[broken\n", "", "not valid TOML"),
        ("unknown top-level key", TEXT + "\n[marketing_tricks]\nx = 1\n", "marketing_tricks", "unknown key"),
        (
            "unknown nested key",
            broken('city = "Sandefjord"', 'city = "Sandefjord"\ncity_typo = "x"'),
            "controller.city_typo",
            "unknown key",
        ),
        ("missing key", broken('email = "post@avara.no"\nphone', "phone"), "controller.email", "missing"),
        ("wrong type", broken("years = 2\n", 'years = "two"\n'), "retention.dialogue.years", "expected an integer"),
        (
            "boolean for a number",
            broken("years = 2\n", "years = true\n"),
            "retention.dialogue.years",
            "expected an integer, got a boolean",
        ),
        ("negative number", broken("years = 2\n", "years = -2\n"), "retention.dialogue.years", "at least 1"),
        (
            "unknown legal basis",
            broken('bases = { email = "consent" }', 'bases = { email = "consnt" }'),
            "purposes.newsletter.bases.email",
            "unknown legal basis 'consnt'",
        ),
        (
            "unknown channel",
            broken('bases = { email = "consent" }', 'bases = { fax = "consent" }'),
            "purposes.newsletter.bases.fax",
            "unknown channel",
        ),
        (
            "purpose with unknown category",
            broken('categories = ["name", "email", "choices"]', 'categories = ["name", "email", "shoe_size"]'),
            "purposes.newsletter.categories",
            "unknown category 'shoe_size'",
        ),
        (
            "legitimate interest without an assessment",
            broken(
                'assessment = "lia-sales-2026"\nobjectable = true\nmarketing = false\n'
                'categories = ["name", "email", "phone", "organisation", "position", "industry", "business_address"',
                'objectable = true\nmarketing = false\ncategories = ["name", "email", "phone", "organisation", '
                '"position", "industry", "business_address"',
            ),
            "purposes.sales_dialogue.assessment",
            "needs an assessment",
        ),
        (
            "unknown assessment",
            broken('assessment = "lia-sales-2026"', 'assessment = "lia-nope"'),
            "purposes.sales_dialogue.assessment",
            "unknown assessment",
        ),
        (
            "exception on a non-consent channel",
            broken('exceptions = { email = ["existing_customer"] }', 'exceptions = { phone = ["existing_customer"] }'),
            "purposes.direct_marketing.exceptions.phone",
            "only to a channel whose basis is consent",
        ),
        (
            "unknown exception",
            broken('exceptions = { email = ["existing_customer"] }', 'exceptions = { email = ["bought_a_list"] }'),
            "purposes.direct_marketing.exceptions.email",
            "unknown exception",
        ),
        (
            "role for an unknown purpose",
            broken("access.statistics = [", "access.statistcs = ["),
            "roles.marketing.access.statistcs",
            "unknown purpose",
        ),
        (
            "role sees a category its purpose does not use",
            broken('access.statistics = ["technical"]', 'access.statistics = ["technical", "phone"]'),
            "roles.marketing.access.statistics",
            "'phone' is not used by purpose 'statistics'",
        ),
        (
            "partner gets an unknown category",
            broken(
                'categories = ["name", "email", "phone", "organisation"]\n# For',
                'categories = ["name", "email", "phone", "salary"]\n# For',
            ),
            "partners.categories",
            "unknown category 'salary'",
        ),
        ("selling data", broken("sells_data = false", "sells_data = true"), "partners.sells_data", "never sold"),
        (
            "invalid controller organisation number",
            broken('organisation_number = "923130969"', 'organisation_number = "923130968"'),
            "controller.organisation_number",
            "not a valid Norwegian organisation",
        ),
        (
            "default language not published",
            broken('default_language = "en"', 'default_language = "de"'),
            "meta.default_language",
            "not in meta.languages",
        ),
        (
            "a label missing a language",
            broken('label = { en = "Name", sv = "Namn", nb = "Navn" }', 'label = { en = "Name", sv = "Namn" }'),
            "categories.name.label.nb",
            "missing",
        ),
        (
            "unknown interaction kind",
            broken('inbound_kinds = ["form"', 'inbound_kinds = ["fax", "form"'),
            "retention.dialogue.inbound_kinds",
            "unknown interaction kind 'fax'",
        ),
        (
            "duplicate list entry",
            broken('inbound_kinds = ["form"', 'inbound_kinds = ["form", "form"'),
            "retention.dialogue.inbound_kinds",
            "listed twice",
        ),
        (
            "section outside the policy",
            broken("[retention.dialogue]\nsection = 9", "[retention.dialogue]\nsection = 17"),
            "retention.dialogue.section",
            "sections 1 to 16",
        ),
        (
            "cookie needing consent without purpose",
            broken('consent_required = true\npurpose = "statistics"', "consent_required = true"),
            "cookies.statistics.purpose",
            "must name its purpose",
        ),
        (
            "no necessary cookies",
            broken(
                "[cookies.necessary]\nsection = 15\nconsent_required = false",
                '[cookies.necessary]\nsection = 15\nconsent_required = true\npurpose = "statistics"',
            ),
            "cookies",
            "strictly necessary",
        ),
        (
            "date that is not a date",
            broken("agreement_dated = 2024-01-02", 'agreement_dated = "soon"'),
            "processors.7sense.agreement_dated",
            "expected a date",
        ),
        (
            "unknown right",
            broken('available = ["access"', 'available = ["telepathy", "access"'),
            "rights.available",
            "unknown right 'telepathy'",
        ),
        (
            "a product in an unknown category",
            broken('name = "Avara Payroll"\ncategory = "business_apps"', 'name = "Avara Payroll"\ncategory = "toys"'),
            "products.payroll.category",
            "unknown product category 'toys'",
        ),
        (
            "a purpose that needs an open dialogue no kind of dialogue serves",
            broken(
                'dialogues = { sales = "sales_dialogue", customer = "customer_care" }',
                'dialogues = { customer = "customer_care" }',
            ),
            "purposes.sales_dialogue.requires",
            "no kind of dialogue serves this purpose",
        ),
        (
            "a request opens an unknown kind of dialogue",
            broken('opens = "sales"', 'opens = "gossip"'),
            "dialogues.opens",
            "unknown kind of dialogue 'gossip'",
        ),
        (
            "bad sub-processor",
            broken('{ name = "Hosting provider of 7Sense AS"', '{ nme = "Hosting provider of 7Sense AS"'),
            "processors.7sense.sub_processors[0].name",
            "missing",
        ),
    ],
)
def test_every_kind_of_breakage_names_the_key(_case: str, text: str, key: str, problem: str):
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    message = str(caught.value)
    assert "\n" not in message, "the error is one line"
    assert caught.value.key == key
    assert problem in message


def test_an_unreadable_policy_file_is_named(tmp_path: Path):
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "missing.toml")


def run_tillit(*args: str, policy_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TILLIT_POLICY_PATH": str(policy_path)}
    return subprocess.run(
        [sys.executable, "-m", "tillit.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_broken_policy_stops_start_up_with_one_line(tmp_path: Path):
    bad = tmp_path / "policy.toml"
    bad.write_text(broken('bases = { email = "consent" }', 'bases = { email = "consnt" }'))
    result = run_tillit("check", policy_path=bad)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "purposes.newsletter.bases.email" in lines[0]
    assert "unknown legal basis" in lines[0]


def test_a_good_policy_starts(tmp_path: Path):
    good = tmp_path / "policy.toml"
    good.write_text(TEXT)
    result = run_tillit("check", policy_path=good)
    assert result.returncode == 0, result.stderr


# Consent lifetime (§5, §15; issue 21 part 4): every broken value is one line naming the key.
LIFETIMES = "months = { direct_marketing = 24, newsletter = 24, statistics = 6, personalisation = 6 }"


def test_the_consent_lifetime_is_loaded():
    policy = load_policy(POLICY_FILE)
    lifetime = policy.consent_lifetime
    assert dict(lifetime.months) == {"direct_marketing": 24, "newsletter": 24, "statistics": 6, "personalisation": 6}
    assert "form" in lifetime.engagement_inbound_kinds
    assert "visit" not in lifetime.engagement_inbound_kinds
    assert lifetime.engagement_answered_outbound_kinds == {"call"}
    assert (lifetime.renewal_days_before, lifetime.cookie_choice_months) == (30, 6)


@pytest.mark.parametrize(
    ("_case", "text", "key", "problem"),
    [
        ("section missing", broken("[consent_lifetime]", "[consent_lifetimes]"), "consent_lifetime", "missing"),
        (
            "months not a number",
            broken(LIFETIMES, LIFETIMES.replace("newsletter = 24", 'newsletter = "two years"')),
            "consent_lifetime.months.newsletter",
            "expected an integer",
        ),
        (
            "zero months",
            broken(LIFETIMES, LIFETIMES.replace("newsletter = 24", "newsletter = 0")),
            "consent_lifetime.months.newsletter",
            "at least 1",
        ),
        (
            "a consent purpose without a lifetime",
            broken(LIFETIMES, LIFETIMES.replace("newsletter = 24, ", "")),
            "consent_lifetime.months.newsletter",
            "missing",
        ),
        (
            "unknown purpose",
            broken(LIFETIMES, LIFETIMES.replace("newsletter = 24", "newsletter = 24, newsleter = 24")),
            "consent_lifetime.months.newsleter",
            "unknown purpose",
        ),
        (
            "unknown engagement",
            broken('engagement_inbound_kinds = ["form"', 'engagement_inbound_kinds = ["opened", "form"'),
            "consent_lifetime.engagement_inbound_kinds",
            "unknown interaction kind 'opened'",
        ),
        (
            "renewal window as long as the lifetime",
            broken("renewal_days_before = 30", "renewal_days_before = 900"),
            "consent_lifetime.renewal_days_before",
            "shorter than the lifetime",
        ),
        (
            "cookie choice validity broken",
            broken("cookie_choice_months = 6", 'cookie_choice_months = "half a year"'),
            "consent_lifetime.cookie_choice_months",
            "expected an integer",
        ),
        (
            "unknown key",
            broken("cookie_choice_months = 6", "cookie_choice_months = 6\ncookie_months = 6"),
            "consent_lifetime.cookie_months",
            "unknown key",
        ),
    ],
)
def test_a_broken_consent_lifetime_names_the_key(_case: str, text: str, key: str, problem: str):
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    message = str(caught.value)
    assert "\n" not in message, "the error is one line"
    assert caught.value.key == key, message
    assert problem in message
