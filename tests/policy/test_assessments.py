"""The assessments the law asks of the policy file, checked by the loader (issue 21 parts 5, 6,
8): a purpose added after collection that does not rest on consent carries its art. 6(4)
compatibility assessment; a profiling purpose its DPIA or screening (art. 35); a sub-processor
outside the EEA its transfer mechanism; a joint controller the essence of its arrangement.
Each breakage is one line naming the key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tillit.policy import assessments
from tillit.policy.loader import PolicyError, parse_policy

TEXT = (Path(__file__).resolve().parents[2] / "policy" / "avara.toml").read_text()

ORIGINAL = (
    'original_purposes = ["sales_dialogue", "direct_marketing", "newsletter", "customer_care", "statistics", '
    '"personalisation", "data_subject_rights"]'
)
WITHOUT_DIRECT_MARKETING = ORIGINAL.replace('"direct_marketing", ', "")
SUB = '{ name = "Hosting provider of 7Sense AS", service = "Servers and backups", country = "NO" }'
COMPATIBILITY = """
[compatibility.cmp-direct-marketing-2026]
title = "Compatibility of direct marketing by phone with the sales dialogue"
dated = 2026-02-01
link = "Both concern our products offered to the same business contacts."
context = "Business contacts who contacted us expect to hear about our products."
nature = "Business contact data only; no special categories."
consequences = "A call during working hours; stopped at once by an objection."
safeguards = "Objection and suppression list honoured in every call list; access by role."
"""
JOINT = """
[joint_controllers.eventpartner]
section = 11
name = "Eventpartner AS"
agreement_reference = "JCA-2026-04"
agreement_dated = 2026-04-01

[joint_controllers.eventpartner.essence]
en = "We run events together; each answers requests about its own list."
sv = "Vi ordnar evenemang tillsammans."
nb = "Vi holder arrangementer sammen."
"""


def edited(*pairs: tuple[str, str], append: str = "") -> str:
    text = TEXT
    for old, new in pairs:
        assert text.count(old) == 1, f"test set-up: {old!r}"
        text = text.replace(old, new)
    return text + append


def later_direct_marketing(*, with_assessment: bool) -> str:
    """direct_marketing (phone: legitimate interest) as a purpose added after collection."""
    if not with_assessment:
        return edited((ORIGINAL, WITHOUT_DIRECT_MARKETING))
    return edited(
        (ORIGINAL, WITHOUT_DIRECT_MARKETING),
        (
            'exceptions = { email = ["existing_customer"] }\n',
            'exceptions = { email = ["existing_customer"] }\ncompatibility = "cmp-direct-marketing-2026"\n',
        ),
        append=COMPATIBILITY,
    )


@pytest.mark.parametrize(
    ("_case", "text", "key", "problem"),
    [
        (
            "a later non-consent purpose without its art. 6(4) assessment",
            later_direct_marketing(with_assessment=False),
            "purposes.direct_marketing.compatibility",
            "needs a compatibility assessment (art. 6(4))",
        ),
        (
            "an unknown compatibility assessment",
            edited(
                (
                    'exceptions = { email = ["existing_customer"] }\n',
                    'exceptions = { email = ["existing_customer"] }\ncompatibility = "cmp-nowhere"\n',
                )
            ),
            "purposes.direct_marketing.compatibility",
            "unknown compatibility assessment 'cmp-nowhere'",
        ),
        (
            "an assessment without factor (e)",
            later_direct_marketing(with_assessment=True).replace(
                'safeguards = "Objection and suppression list honoured in every call list; access by role."\n', ""
            ),
            "compatibility.cmp-direct-marketing-2026.safeguards",
            "missing",
        ),
        (
            "an assessment without a date",
            later_direct_marketing(with_assessment=True).replace("dated = 2026-02-01\n", ""),
            "compatibility.cmp-direct-marketing-2026.dated",
            "missing",
        ),
        (
            "original purposes name an unknown purpose",
            edited((ORIGINAL, ORIGINAL.replace('"statistics"', '"statistcs"'))),
            "notice.original_purposes",
            "unknown purpose 'statistcs'",
        ),
        (
            "the original purposes are not said",
            edited((ORIGINAL + "\n", "")),
            "notice.original_purposes",
            "missing",
        ),
        (
            "a profiling purpose without a DPIA or screening",
            edited(
                (
                    'categories = ["technical", "product_interests"]\nprofiling = true\n'
                    'impact_assessment = "screening-profiling-2026"\n',
                    'categories = ["technical", "product_interests"]\nprofiling = true\n',
                )
            ),
            "purposes.personalisation.impact_assessment",
            "needs a DPIA or a documented screening (art. 35)",
        ),
        (
            "a marketing purpose on the web not marked as profiling",
            edited(
                (
                    'categories = ["technical", "product_interests"]\nprofiling = true\n',
                    'categories = ["technical", "product_interests"]\n',
                )
            ),
            "purposes.personalisation.profiling",
            "set profiling = true",
        ),
        (
            "an unknown kind of impact assessment",
            edited(('kind = "screening"\ntitle', 'kind = "guess"\ntitle')),
            "impact_assessments.screening-profiling-2026.kind",
            "unknown kind 'guess'",
        ),
        (
            "an impact assessment without its document reference",
            edited(('reference = "AVARA-PRIV-2026-03"\n', "")),
            "impact_assessments.screening-profiling-2026.reference",
            "missing",
        ),
        (
            "an unknown impact assessment",
            edited(
                (
                    'profiling = true\nimpact_assessment = "screening-profiling-2026"\n\n[purposes.newsletter]',
                    'profiling = true\nimpact_assessment = "dpia-nowhere"\n\n[purposes.newsletter]',
                )
            ),
            "purposes.direct_marketing.impact_assessment",
            "unknown impact assessment 'dpia-nowhere'",
        ),
        (
            "a sub-processor outside the EEA without a transfer mechanism",
            edited((SUB, SUB.replace('country = "NO"', 'country = "US"'))),
            "processors.7sense.sub_processors[0].transfer",
            "US is outside the EEA",
        ),
        (
            "an unknown transfer mechanism",
            edited((SUB, SUB.replace('country = "NO"', 'country = "US", transfer = "trust us"'))),
            "processors.7sense.sub_processors[0].transfer",
            "unknown transfer mechanism 'trust us'",
        ),
        (
            "a transfer named inside the EEA",
            edited((SUB, SUB.replace('country = "NO"', 'country = "SE", transfer = "standard_contractual_clauses"'))),
            "processors.7sense.sub_processors[0].transfer",
            "SE is in the EEA",
        ),
        (
            "a country that is not a country code",
            edited((SUB, SUB.replace('country = "NO"', 'country = "Norway"'))),
            "processors.7sense.sub_processors[0].country",
            "two-letter country code",
        ),
        (
            "a processor without its agreement reference",
            edited(('agreement_reference = "Data processing agreement 7Sense AS - Avara AS"\n', "")),
            "processors.7sense.agreement_reference",
            "missing",
        ),
        (
            "a joint controller without the essence in every language",
            TEXT + JOINT.replace('nb = "Vi holder arrangementer sammen."\n', ""),
            "joint_controllers.eventpartner.essence.nb",
            "missing",
        ),
        (
            "a joint controller without its agreement date",
            TEXT + JOINT.replace("agreement_dated = 2026-04-01\n", ""),
            "joint_controllers.eventpartner.agreement_dated",
            "missing",
        ),
    ],
)
def test_each_missing_assessment_names_the_key(_case: str, text: str, key: str, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert "\n" not in str(caught.value)
    assert caught.value.key == key
    assert problem in str(caught.value)


def test_the_policy_file_holds_its_screening_and_structured_sub_processors() -> None:
    current = parse_policy(TEXT)
    screening = current.impact_assessments["screening-profiling-2026"]
    assert screening.kind == "screening"
    assert screening.dated == dt.date(2026, 1, 15)
    for key in ("personalisation", "direct_marketing"):
        assert current.purposes[key].profiling
        assert current.purposes[key].impact_assessment == "screening-profiling-2026"
    assert set(current.notice.original_purposes) == set(current.purposes)
    sub = current.processors["7sense"].sub_processors[0]
    assert (sub.country, sub.transfer) == ("NO", None)
    assert current.processors["7sense"].agreement_reference


def test_a_later_purpose_with_its_assessment_loads_and_consent_purposes_need_none() -> None:
    current = parse_policy(later_direct_marketing(with_assessment=True))
    assessment = current.compatibility["cmp-direct-marketing-2026"]
    assert assessment.dated == dt.date(2026, 2, 1)
    assert current.purposes["direct_marketing"].compatibility == assessment.key
    assert assessments.unassessed(current, ["direct_marketing", "newsletter"]) == []
    # A purpose added later on consent alone (newsletter) needs no assessment: consent is its basis.
    text = edited((ORIGINAL, ORIGINAL.replace('"newsletter", ', "")))
    assert assessments.unassessed(parse_policy(text), ["newsletter"]) == []
    # Without the assessment, the pure rule names the purpose (the notice commands refuse it).
    assert assessments.unassessed(parse_policy(TEXT), ["direct_marketing", "newsletter"]) == ["direct_marketing"]


def test_a_sub_processor_outside_the_eea_with_a_mechanism_loads() -> None:
    current = parse_policy(
        edited((SUB, SUB.replace('country = "NO"', 'country = "US", transfer = "standard_contractual_clauses"')))
    )
    assert current.processors["7sense"].sub_processors[0].transfer == "standard_contractual_clauses"
