"""The demo data set every benchmark uses: realistic, obviously fictional, consistent and
reproducible; ``tillit demo`` writes it (once, with --if-empty) and a login per policy role."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO

import phonenumbers
import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from stdnum.no import orgnr

from tillit import policy
from tillit.accounts.models import User
from tillit.core.identifiers import normalise_email
from tillit.people import demo
from tillit.people.models import CustomerRelationship, Interaction, Organization, Person, ProductInterest, Provenance
from tillit.policy import retention as retention_rules

# generate_demo commits chunk by chunk through COPY / executemany on the raw connection.
pytestmark = pytest.mark.django_db(transaction=True)

PEOPLE = 300


@pytest.fixture
def summary(now: dt.datetime) -> demo.DemoSummary:
    return demo.generate_demo(people=PEOPLE, seed=7, now=now)


def test_counts_match_the_summary_and_the_promised_shape(summary: demo.DemoSummary) -> None:
    assert summary.people == Person.objects.count() == PEOPLE
    assert summary.organizations == Organization.objects.count() == round(PEOPLE / 8)
    assert summary.interactions == Interaction.objects.count()
    assert 4 * PEOPLE <= summary.interactions <= 6 * PEOPLE, "about five interactions per person"
    assert summary.product_interests == ProductInterest.objects.count()
    assert 0.7 * PEOPLE <= summary.product_interests <= 1.3 * PEOPLE, "about one product interest per person"
    assert summary.customer_relationships == CustomerRelationship.objects.count()
    assert 0.05 * PEOPLE <= summary.customer_relationships <= 0.25 * PEOPLE, "about 15 % customers"
    assert summary.provenance == Provenance.objects.count() == PEOPLE + summary.organizations
    assert (summary.first_person_id, summary.last_person_id) == (
        Person.objects.order_by("id").first().pk,  # type: ignore[union-attr]
        Person.objects.order_by("id").last().pk,  # type: ignore[union-attr]
    )


def test_emails_are_unique_valid_and_in_the_example_domain(summary: demo.DemoSummary) -> None:
    emails = list(Person.objects.values_list("email", flat=True))
    assert len(set(emails)) == len(emails) == PEOPLE
    for email in emails:
        assert email.endswith(".example"), "RFC 2606: obviously fictional"
        assert email.isascii()
        assert normalise_email(email) == email


def test_phones_are_valid_mobile_numbers_in_e164(summary: demo.DemoSummary) -> None:
    for phone, country in Person.objects.values_list("phone", "organization__country"):
        number = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == phone
        assert phonenumbers.region_code_for_number(number) == country
        assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


def test_norwegian_organisations_have_valid_unique_numbers_and_swedish_none(summary: demo.DemoSummary) -> None:
    organisations = list(Organization.objects.all())
    assert {org.country for org in organisations} <= {"NO", "SE"}
    numbers = [org.org_number for org in organisations if org.country == "NO"]
    assert numbers, "most organisations are Norwegian"
    assert len(set(numbers)) == len(numbers)
    assert all(orgnr.is_valid(number) for number in numbers)
    assert all(org.org_number is None for org in organisations if org.country == "SE")
    for org in organisations:
        assert re.fullmatch(r"\d{2}\.?\d{3}", org.industry_code)
        assert org.industry_code_version == {"NO": "SN2007", "SE": "SNI2007"}[org.country]
        assert org.name.endswith((" AS", " ASA", " AB"))
        assert org.street
        assert org.postcode
        assert org.city


def test_foreign_keys_hold_and_times_are_consistent(summary: demo.DemoSummary, now: dt.datetime) -> None:
    person_ids = set(Person.objects.values_list("id", flat=True))
    org_ids = set(Organization.objects.values_list("id", flat=True))
    assert set(Person.objects.values_list("organization_id", flat=True)) <= org_ids
    for model in (Interaction, ProductInterest, CustomerRelationship):
        assert set(model.objects.values_list("person_id", flat=True)) <= person_ids
    three_years_ago = now - dt.timedelta(days=3 * 366)
    for person in Person.objects.all():
        assert three_years_ago <= person.created_at == person.updated_at <= now
        assert person.retain_reason in {
            "dialogue",
            "registered",
            "customer",
            "customer_ended",
            "customer_orders",
            "subscribed",
            "unsubscribed",
        }
        assert person.notice_version_id is not None
        assert person.owner_id is None
        assert person.language in {"nb", "sv", "en"}
    assert not Interaction.objects.filter(occurred_at__gt=now).exists()
    assert not Interaction.objects.exclude(staff=None).exists()
    for relationship in CustomerRelationship.objects.exclude(ended_at=None):
        assert relationship.started_at <= relationship.ended_at <= now  # type: ignore[operator]
    assert CustomerRelationship.objects.filter(ended_at=None).exists()
    pairs = list(ProductInterest.objects.values_list("person_id", "product"))
    assert len(set(pairs)) == len(pairs)


def test_provenance_records_the_demo_source(summary: demo.DemoSummary) -> None:
    assert set(Provenance.objects.values_list("source", flat=True)) == {"demo"}
    assert "demo" in policy.current().sources
    for person in Person.objects.all()[:50]:
        (row,) = Provenance.objects.filter(person=person)
        assert (row.field, row.recorded_at, row.organization_id) == ("email", person.created_at, None)
    assert Provenance.objects.filter(organization__isnull=False, field="name").count() == summary.organizations


def test_last_contact_is_the_latest_contact_the_policy_counts(summary: demo.DemoSummary) -> None:
    rules = policy.current()
    latest: dict[int, dt.datetime] = {}
    for person_id, kind, direction, reached, occurred_at in Interaction.objects.values_list(
        "person_id", "kind", "direction", "reached", "occurred_at"
    ):
        if retention_rules.counts_as_contact(rules, kind=kind, direction=direction, reached=reached):
            latest[person_id] = max(occurred_at, latest.get(person_id, occurred_at))
    people = list(Person.objects.values_list("id", "last_contact_at"))
    assert all(last_contact == latest.get(person_id) for person_id, last_contact in people)
    assert any(last_contact is None for _, last_contact in people) or len(latest) == PEOPLE
    calls = Interaction.objects.filter(kind="call", direction="outbound")
    assert calls.filter(reached=True).exists()
    assert calls.filter(reached=False).exists()


def _content(first_id: int, last_id: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """What a batch holds, without the ids (which differ between batches)."""
    people = [
        (name, re.sub(r"\.\d+@", "@", email), phone, position, language, created_at, last_contact_at, org_name)
        for name, email, phone, position, language, created_at, last_contact_at, org_name in Person.objects.filter(
            id__range=(first_id, last_id)
        )
        .order_by("id")
        .values_list(
            "name", "email", "phone", "position", "language", "created_at", "last_contact_at", "organization__name"
        )
    ]
    interactions = list(
        Interaction.objects.filter(person_id__gte=first_id, person_id__lte=last_id)
        .order_by("id")
        .values_list("kind", "direction", "reached", "occurred_at", "subject", "summary")
    )
    return people, interactions


def test_the_same_seed_gives_the_same_data_and_a_second_batch_stays_unique(now: dt.datetime) -> None:
    first = demo.generate_demo(people=120, seed=11, now=now)
    second = demo.generate_demo(people=120, seed=11, now=now)
    assert second.first_person_id == first.last_person_id + 1
    assert _content(first.first_person_id, first.last_person_id) == _content(
        second.first_person_id, second.last_person_id
    )
    # Emails, pseudonyms and organisation numbers are unique across batches (the DB says so too).
    assert Person.objects.values("email").distinct().count() == 240
    assert Person.objects.values("pseudonym").distinct().count() == 240
    other = demo.generate_demo(people=120, seed=12, now=now)
    assert _content(other.first_person_id, other.last_person_id) != _content(
        first.first_person_id, first.last_person_id
    )


def test_progress_is_reported_per_chunk(now: dt.datetime) -> None:
    calls: list[tuple[int, int]] = []
    summary = demo.generate_demo(
        people=120, seed=1, now=now, chunk_size=50, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(0, 120), (50, 120), (100, 120), (120, 120)]
    assert summary.people == Person.objects.count() == 120


def test_ids_continue_after_the_sequence_so_new_rows_do_not_collide(now: dt.datetime) -> None:
    summary = demo.generate_demo(people=20, seed=1, now=now)
    org = Organization.objects.create(name="Eksempel AS", created_at=now, updated_at=now)
    person = Person.objects.create(name="Kari Nordmann", email="kari@example.com", created_at=now, updated_at=now)
    assert person.pk > summary.last_person_id
    assert org.pk > Organization.objects.exclude(pk=org.pk).order_by("-pk").first().pk  # type: ignore[union-attr]


def test_ascii_slug_and_orgnr_check_digit() -> None:
    assert demo.ascii_slug("Ødegård & Sønner Æsøy") == "odegard-sonner-aesoy"
    assert demo.ascii_slug("Åsa Öberg-Ähl") == "asa-oberg-ahl"
    assert demo.ascii_slug("René") == "rene"
    assert demo.orgnr_check_digit("92313096") == 9  # the controller, Avara AS: 923130969
    assert orgnr.is_valid("923130969")


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="between 1 and"):
        demo.generate_demo(people=0, seed=1, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


# --- staff -------------------------------------------------------------------------------------


def test_one_demo_login_per_policy_role_that_can_sign_in(now: dt.datetime, roles: tuple[str, ...]) -> None:
    logins = demo.ensure_demo_staff(now=now)
    assert [role for _, role, _ in logins] == list(roles)
    for username, role, password in logins:
        assert username == role.replace("_", "-")
        assert password == f"demo-{role}-2026"
        user = authenticate(RequestFactory().post("/login/"), username=username, password=password)
        assert user is not None
        assert user.role == role  # type: ignore[attr-defined]
    assert "customer-support" in [username for username, _, _ in logins]
    # Idempotent: a second call creates nothing and reports the same logins.
    assert demo.ensure_demo_staff(now=now) == logins
    assert User.objects.count() == len(roles)


# --- the command -------------------------------------------------------------------------------


def test_command_writes_people_prints_counts_and_logins(roles: tuple[str, ...]) -> None:
    out = StringIO()
    call_command("demo", people=40, stdout=out)
    text = out.getvalue()
    assert Person.objects.count() == 40
    assert re.search(r"Wrote 40 people, 5 organisations, [\d,]+ interactions, [\d,]+ consent records", text)
    assert re.search(r"in [\d.]+ s", text)
    for role in roles:
        assert f"demo-{role}-2026" in text
    assert "@" not in text, "no personal data on the console"


def test_command_if_empty_adds_nothing_the_second_time() -> None:
    call_command("demo", people=30, if_empty=True, no_staff=True, stdout=StringIO())
    assert Person.objects.count() == 30
    out = StringIO()
    call_command("demo", people=30, if_empty=True, stdout=out)
    assert Person.objects.count() == 30
    assert "already exists (30 people)" in out.getvalue()
    assert not User.objects.exists(), "--if-empty on existing data does nothing at all"
    # Without --if-empty a second batch is added, with emails still unique.
    call_command("demo", people=30, no_staff=True, stdout=StringIO())
    assert Person.objects.values("email").distinct().count() == 60


@pytest.mark.parametrize("people", [0, -5, 10_000_001])
def test_command_refuses_a_bad_number_of_people_in_one_line(people: int) -> None:
    with pytest.raises(CommandError, match=r"--people must be between 1 and 10,000,000") as caught:
        call_command("demo", people=people, stdout=StringIO())
    assert "\n" not in str(caught.value)
    assert not Person.objects.exists()


def test_command_gives_notice_consents_and_a_deadline_to_everyone() -> None:
    from tillit.consent.models import ConsentEvent, Subscription
    from tillit.people.models import Person

    call_command("demo", people=200, no_staff=True, stdout=StringIO())
    assert not Person.objects.filter(notice_version__isnull=True).exists()
    assert not Person.objects.filter(retain_reason="").exists()
    given = ConsentEvent.objects.filter(action="given")
    assert given.filter(purpose="newsletter").count() == Subscription.objects.count() > 0
    assert given.filter(purpose="direct_marketing").exists()
    assert not given.filter(wording="").exists()
    subscribed = Subscription.objects.filter(unsubscribed_at__isnull=True).values("person_id")
    assert not Person.objects.filter(pk__in=subscribed).exclude(retain_reason__in=["subscribed", "customer"]).exists()
    assert Person.objects.filter(pk__in=subscribed, retain_until__isnull=True).count() == subscribed.count()


def test_the_deadlines_written_in_bulk_are_the_ones_the_rule_gives() -> None:
    from tillit.people.models import Person
    from tillit.retention.services import recompute_all

    call_command("demo", people=300, no_staff=True, stdout=StringIO())
    written = dict(Person.objects.values_list("pk", "retain_until"))
    reasons = dict(Person.objects.values_list("pk", "retain_reason"))
    recompute_all()
    assert dict(Person.objects.values_list("pk", "retain_until")) == written
    assert dict(Person.objects.values_list("pk", "retain_reason")) == reasons
