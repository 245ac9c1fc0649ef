"""Issue 21 part 7 (§6, GDPR art. 4(1)): a sole proprietorship (ENK) from the register names a
natural person. The import records its form; it is marked as personal data for staff; it is
kept only while a person is linked to it or for the policy's period after the register last
gave it, then the sweep erases it; erasing the person linked to it erases it with them; and
the person linked to it is handled under art. 14 for the register, as the policy says."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tillit import policy
from tillit.audit.models import AuditEntry
from tillit.capture import register
from tillit.consent import indirect
from tillit.consent.models import IndirectNotice
from tillit.people import services as people
from tillit.people.models import Organization, Person, Provenance
from tillit.policy.loader import PolicyError, parse_policy
from tillit.policy.sole_proprietorship import names_a_person, retain_until
from tillit.retention import services as retention

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "enhetsregisteret.json"
ENK = "100000083"
AS = "100000016"


@pytest.fixture
def imported(now, system_actor) -> dict[str, Organization]:  # type: ignore[no-untyped-def]
    register.import_entities(actor=system_actor, now=now, path=FIXTURE)
    return {"enk": Organization.objects.get(org_number=ENK), "as": Organization.objects.get(org_number=AS)}


@pytest.fixture
def use_policy(settings, tmp_path: Path) -> Iterator[Callable[[str, str], None]]:  # type: ignore[no-untyped-def]
    original = Path(django_settings.TILLIT_POLICY_PATH).read_text(encoding="utf-8")

    def use(old: str, new: str) -> None:
        assert original.count(old) == 1, old
        path = tmp_path / "avara.toml"
        path.write_text(original.replace(old, new), encoding="utf-8")
        settings.TILLIT_POLICY_PATH = path
        policy.reset()

    yield use
    policy.reset()


def link(system_actor, now, organization: Organization, name: str, email: str) -> Person:  # type: ignore[no-untyped-def]
    return people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": name, "email": email, "organization_id": organization.pk},
    )


def test_the_register_import_records_the_form_and_staff_see_it_is_personal_data(imported, staff_client):  # type: ignore[no-untyped-def]
    current = policy.current()
    assert imported["enk"].organisation_form == "ENK"
    assert imported["as"].organisation_form == "AS"
    assert names_a_person(current, imported["enk"].organisation_form)
    assert not names_a_person(current, imported["as"].organisation_form)
    client = staff_client("sales")
    page = client.get(f"/organizations/{imported['enk'].pk}/").content.decode()
    assert "personal data of its owner" in page
    assert "personal data of its owner" not in client.get(f"/organizations/{imported['as'].pk}/").content.decode()


def test_the_retention_rule_of_a_sole_proprietorship() -> None:
    current = policy.current()
    obtained = dt.datetime(2026, 3, 31, 10, 0, tzinfo=dt.UTC)
    assert retain_until(current, last_obtained=obtained, linked_people=1) is None, "a person linked: theirs governs"
    assert retain_until(current, last_obtained=obtained, linked_people=0) == dt.datetime(
        2028, 3, 31, 10, 0, tzinfo=dt.UTC
    )


def test_the_sweep_erases_a_sole_proprietorship_nobody_is_linked_to_after_the_period(
    imported, now, system_actor
) -> None:  # type: ignore[no-untyped-def]
    lonely = imported["enk"]
    linked = Organization.objects.create(
        name="Fiktiv Snekker Kari Testesen",
        org_number="100000091",
        organisation_form="ENK",
        created_at=now,
        updated_at=now,
    )
    later = now + dt.timedelta(days=700)
    kari = link(system_actor, later, linked, "Kari Testesen", "kari@example.com")
    assert Provenance.objects.filter(organization=lonely).exists()

    within = retention.sweep(actor=system_actor, now=now + dt.timedelta(days=365 * 2 - 1))
    assert within.sole_proprietorships == 0
    assert Organization.objects.filter(pk=lonely.pk).exists()

    past = retention.sweep(actor=system_actor, now=now + dt.timedelta(days=365 * 2 + 1))
    assert past.sole_proprietorships == 1
    assert not Organization.objects.filter(pk=lonely.pk).exists()
    assert not Provenance.objects.filter(organization_id=lonely.pk).exists(), "its provenance goes with it"
    assert Organization.objects.filter(pk=linked.pk).exists(), "a person is linked to it"
    assert Organization.objects.filter(pk=imported["as"].pk).exists(), "a company is not a person"
    assert AuditEntry.objects.filter(action="erase", subject_type="organization", subject_id=str(lonely.pk)).exists()

    # When the sweep erases the person linked to it, the sole proprietorship goes the same day.
    gone = retention.sweep(actor=system_actor, now=later + dt.timedelta(days=365 * 2 + 1))
    assert gone.erased == 1
    assert not Person.objects.filter(pk=kari.pk).exists()
    assert gone.sole_proprietorships == 1
    assert not Organization.objects.filter(pk=linked.pk).exists()


def test_erasing_the_person_erases_their_sole_proprietorship_unless_someone_else_is_linked(
    imported, now, system_actor
) -> None:  # type: ignore[no-untyped-def]
    enk = imported["enk"]
    owner = link(system_actor, now, enk, "Ola Testesen", "ola@example.com")
    helper = link(system_actor, now, enk, "Per Hjelper", "per@example.com")
    retention.erase_person(actor=system_actor, now=now, person_id=helper.pk, reason="request")
    assert Organization.objects.filter(pk=enk.pk).exists(), "the owner is still linked"
    retention.erase_person(actor=system_actor, now=now, person_id=owner.pk, reason="request")
    assert not Organization.objects.filter(pk=enk.pk).exists(), "it named the person erased"

    company = imported["as"]
    employee = link(system_actor, now, company, "Eva Ansatt", "eva@example.com")
    retention.erase_person(actor=system_actor, now=now, person_id=employee.pk, reason="request")
    assert Organization.objects.filter(pk=company.pk).exists()


def test_the_person_linked_to_a_sole_proprietorship_is_handled_under_art_14(imported, now, system_actor) -> None:  # type: ignore[no-untyped-def]
    owner = link(system_actor, now + dt.timedelta(days=3), imported["enk"], "Ola Testesen", "ola@example.com")
    employee = link(system_actor, now, imported["as"], "Eva Ansatt", "eva@example.com")
    indirect.record_due(now=now + dt.timedelta(days=4))
    notice = IndirectNotice.objects.get(person_id=owner.pk, source="public_register")
    assert notice.status == IndirectNotice.Status.EXEMPT
    assert notice.exemption == "14(5)(b)"
    assert notice.obtained_at == now + dt.timedelta(days=3), "from when we had both"
    assert not IndirectNotice.objects.filter(person_id=employee.pk, source="public_register").exists()
    indirect.record_due(now=now + dt.timedelta(days=5))
    assert IndirectNotice.objects.filter(person_id=owner.pk).count() == 1, "recorded once"


def test_when_the_policy_says_notify_the_owner_is_told_of_the_register_data(
    imported, now, system_actor, use_policy
) -> None:  # type: ignore[no-untyped-def]
    current = policy.current()
    exemption_line = next(
        line for line in current.source_text.splitlines() if line.startswith('exemption = { article = "14(5)(b)"')
    )
    use_policy('art14 = "exempt"\n' + exemption_line + "\n", 'art14 = "notify"\n')
    owner = link(system_actor, now, imported["enk"], "Ola Testesen", "ola@example.com")
    indirect.record_due(now=now + dt.timedelta(days=1))
    notice = IndirectNotice.objects.get(person_id=owner.pk, source="public_register")
    assert notice.status == IndirectNotice.Status.PENDING
    assert indirect.claim(notice_id=notice.pk, now=now + dt.timedelta(days=1))
    told = indirect.recipient(notice_id=notice.pk)
    assert told is not None
    assert set(told.categories) == {"organisation", "business_address"}


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('forms = ["ENK"]', 'forms = ["enk"]', "sole_proprietorships.forms", "not a register organisation form"),
        (
            "years_without_person = 2",
            "years_without_person = 0",
            "sole_proprietorships.years_without_person",
            "at least 1",
        ),
        ('forms = ["ENK"]\n', "", "sole_proprietorships.forms", "missing"),
    ],
)
def test_the_loader_names_a_broken_sole_proprietorship_rule(old: str, new: str, key: str, problem: str) -> None:
    text = policy.current().source_text
    assert text.count(old) == 1
    with pytest.raises(PolicyError) as caught:
        parse_policy(text.replace(old, new))
    assert caught.value.key == key
    assert problem in str(caught.value)


def test_the_records_of_processing_count_the_owners_and_say_how_long(imported, now) -> None:  # type: ignore[no-untyped-def]
    from django.utils import translation

    from tillit.sharing import records

    record = records.records_of_processing(now=now)
    owners = next(s for s in record["data_subjects"] if "sole proprietorships" in s["group"])
    assert owners["count"] == 1
    assert any(line.startswith("Sole proprietorships (§6)") and "2 years" in line for line in record["retention"])
    with translation.override("nb"):
        norsk = records.records_of_processing(now=now, language="nb")
    assert any("Innehavere av enkeltpersonforetak" in s["group"] for s in norsk["data_subjects"])
