"""`tillit verify` judges the past by the rules of its time (§14): every published policy
version is kept (identified by its content hash) and each read, send and disclosure is judged
by the version in force when it happened. A purpose removed later does not turn earlier reads
into violations; something forbidden then stays reported whatever the policy says now."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tillit import policy
from tillit.audit import services as audit
from tillit.consent.models import PolicyVersion
from tillit.core.actors import Actor
from tillit.public.notice import publish_current
from tillit.sharing import verifier
from tillit.sharing.models import DisclosedPerson, Disclosure

from .conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def swap_policy(settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Swap in a copy of the policy file with every occurrence of ``old`` replaced."""
    original = Path(django_settings.TILLIT_POLICY_PATH).read_text(encoding="utf-8")

    def swap(old: str, new: str) -> None:
        assert old in original
        path = tmp_path / "avara.toml"
        path.write_text(original.replace(old, new), encoding="utf-8")
        settings.TILLIT_POLICY_PATH = path
        policy.reset()

    yield swap
    policy.reset()


def subjects(kind: str) -> list[str]:
    return [v.subject for v in verifier.violations(now=NOW) if v.kind == kind]


def read(role: str, purpose: str, at: dt.datetime, person_id: int, fields: list[str]) -> int:
    actor = Actor(kind="staff", role=role, user_id=None, label=f"staff:{role}")
    entry = audit.record(
        actor=actor, now=at, action="read", subject_type="person", subject_id=person_id, purpose=purpose, fields=fields
    )
    return entry.sequence


def test_every_published_policy_version_is_kept_by_its_content_hash(swap_policy) -> None:  # type: ignore[no-untyped-def]
    first = policy.current()
    publish_current(NOW - dt.timedelta(days=60))
    swap_policy("personalisation", "tailoring")
    publish_current(NOW - dt.timedelta(days=10))
    publish_current(NOW - dt.timedelta(days=5))  # nothing new
    kept = list(PolicyVersion.objects.order_by("published_at").values_list("digest", "published_at", "text"))
    assert [(d, at) for d, at, _ in kept] == [
        (first.digest, NOW - dt.timedelta(days=60)),
        (policy.current().digest, NOW - dt.timedelta(days=10)),
    ]
    assert "[purposes.personalisation]" in kept[0][2]
    assert "[purposes.tailoring]" in kept[1][2]


def test_reads_are_judged_by_the_policy_in_force_when_they_happened(swap_policy, crowd) -> None:  # type: ignore[no-untyped-def]
    person = crowd[0]
    publish_current(NOW - dt.timedelta(days=60))
    allowed_then = read("marketing", "personalisation", NOW - dt.timedelta(days=30), person.pk, [])
    forbidden_then = read("marketing", "customer_care", NOW - dt.timedelta(days=30), person.pk, ["name"])
    # The purpose `personalisation` is removed from the policy (replaced by `tailoring`).
    swap_policy("personalisation", "tailoring")
    publish_current(NOW - dt.timedelta(days=10))
    forbidden_now = read("marketing", "personalisation", NOW - dt.timedelta(days=5), person.pk, [])

    found = subjects("read_by_forbidden_role")

    assert f"audit:#{forbidden_then} person:#{person.pk}" in found
    assert f"audit:#{forbidden_now} person:#{person.pk}" in found
    assert f"audit:#{allowed_then} person:#{person.pk}" not in found


def test_a_send_forbidden_then_is_reported_though_the_policy_now_allows_it(swap_policy, crowd) -> None:  # type: ignore[no-untyped-def]
    from tillit.marketing.models import Campaign, SendRecord

    publish_current(NOW - dt.timedelta(days=60))
    campaign = Campaign.objects.create(name="Autumn", purpose="newsletter", created_at=NOW - dt.timedelta(days=31))
    # No consent to the newsletter: no basis when it went.
    then = SendRecord.objects.create(
        campaign=campaign,
        person=crowd[1],
        status="sent",
        basis="consent",
        message_id="<then@x>",
        sent_at=NOW - dt.timedelta(days=30),
    )
    # The policy later rests the newsletter on a legitimate interest.
    swap_policy(
        'bases = { email = "consent" }\nobjectable = true\nmarketing = true\ncategories = ["name", "email", "choices"]',
        'bases = { email = "legitimate_interest" }\nassessment = "lia-sales-2026"\nobjectable = true\n'
        'marketing = true\ncategories = ["name", "email", "choices"]',
    )
    publish_current(NOW - dt.timedelta(days=10))
    later = Campaign.objects.create(name="Winter", purpose="newsletter", created_at=NOW - dt.timedelta(days=6))
    allowed_later = SendRecord.objects.create(
        campaign=later,
        person=crowd[2],
        status="sent",
        basis="legitimate_interest",
        message_id="<later@x>",
        sent_at=NOW - dt.timedelta(days=5),
    )

    found = subjects("send_without_basis")

    assert f"send:#{then.pk} person:{crowd[1].pseudonym}" in found
    assert f"send:#{allowed_later.pk} person:{crowd[2].pseudonym}" not in found


def test_disclosures_are_judged_by_the_policy_in_force_when_they_were_made(swap_policy, dialogue, crowd) -> None:  # type: ignore[no-untyped-def]
    def plant(at: dt.datetime, person) -> str:  # type: ignore[no-untyped-def]
        made = Disclosure.objects.create(
            partner=dialogue.partner,
            dialogue=dialogue,
            basis="open_dialogue",
            purpose="sales_dialogue",
            channel="csv",
            categories=["name", "phone"],
            people=1,
            disclosed_at=at,
            actor_label="staff:planted",
        )
        row = DisclosedPerson.objects.create(disclosure=made, pseudonym=person.pseudonym, categories=["name", "phone"])
        return f"disclosure:{made.reference} row:#{row.pk} person:{person.pseudonym}"

    publish_current(NOW - dt.timedelta(days=20))
    allowed_then = plant(NOW - dt.timedelta(days=8), crowd[0])
    # Partners may no longer receive phone numbers.
    swap_policy(
        'categories = ["name", "email", "phone", "organisation"]\n# For an event',
        'categories = ["name", "email", "organisation"]\n# For an event',
    )
    publish_current(NOW - dt.timedelta(days=5))
    forbidden_now = plant(NOW - dt.timedelta(days=2), crowd[1])

    assert subjects("disclosure_forbidden_field") == [forbidden_now]
    assert allowed_then not in subjects("disclosure_forbidden_field")
