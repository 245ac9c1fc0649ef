"""Data subject requests: the deadline rule (table tests), intake, merging, rate limits,
expiry, automatic completion, and what a request keeps (nothing personal once closed)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from tillit import policy
from tillit.consent import selectors as consent_selectors
from tillit.core.actors import Actor
from tillit.core.errors import ValidationError
from tillit.core.tokens import TokenError, TokenExpiredError
from tillit.people import services as people
from tillit.people.models import Person
from tillit.policy import rights as rule
from tillit.retention.models import ErasureReceipt
from tillit.retention.selectors import find_identifiers
from tillit.rights import services
from tillit.rights.models import DataSubjectRequest, RequestEvent

PORTAL = Actor(kind="data_subject", role=None, user_id=None, label="data_subject:test")
OSLO = dt.timezone(dt.timedelta(hours=1))


# --- the rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due", "extended"),
    [
        (dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 4, 30)),
        (dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 4, 30)),
        (dt.date(2024, 3, 15), dt.date(2024, 4, 15), dt.date(2024, 6, 15)),
        (dt.date(2025, 3, 31), dt.date(2025, 4, 30), dt.date(2025, 6, 30)),
        (dt.date(2025, 12, 31), dt.date(2026, 1, 31), dt.date(2026, 3, 31)),
        (dt.date(2025, 11, 30), dt.date(2025, 12, 30), dt.date(2026, 2, 28)),
        (dt.date(2024, 2, 29), dt.date(2024, 3, 29), dt.date(2024, 5, 29)),
    ],
)
def test_the_due_date_is_the_same_day_a_month_later_or_the_months_last_day(received, due, extended):
    current = policy.current()
    at = dt.datetime.combine(received, dt.time(12), tzinfo=OSLO)
    assert rule.due_on(current, at) == due
    assert rule.extended_due_on(current, at) == extended


def test_the_day_of_receipt_is_the_controllers_calendar_day():
    # 23:30 UTC on 31 January is already 1 February in Oslo.
    at = dt.datetime(2025, 1, 31, 23, 30, tzinfo=dt.UTC)
    assert rule.due_on(policy.current(), at) == dt.date(2025, 3, 1)


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (dt.datetime(2025, 2, 1, 9, tzinfo=OSLO), True),
        (dt.datetime(2025, 2, 28, 23, 0, tzinfo=OSLO), True),  # the due day itself still counts
        (dt.datetime(2025, 3, 1, 0, 30, tzinfo=OSLO), False),
        (dt.datetime(2025, 4, 1, 9, tzinfo=OSLO), False),
    ],
)
def test_an_extension_is_allowed_only_while_the_first_month_runs(now, allowed):
    received = dt.datetime(2025, 1, 31, 10, tzinfo=OSLO)
    if allowed:
        assert rule.extend(
            policy.current(), received_at=received, now=now, reason="Many requests", already_extended=False
        ) == dt.date(2025, 4, 30)
    else:
        with pytest.raises(rule.ExtensionTooLateError):
            rule.extend(policy.current(), received_at=received, now=now, reason="Many requests", already_extended=False)


def test_an_extension_needs_a_reason_and_happens_once():
    received = dt.datetime(2025, 1, 10, 10, tzinfo=OSLO)
    now = received + dt.timedelta(days=3)
    with pytest.raises(ValidationError):
        rule.extend(policy.current(), received_at=received, now=now, reason="  ", already_extended=False)
    with pytest.raises(rule.AlreadyExtendedError):
        rule.extend(policy.current(), received_at=received, now=now, reason="Complex", already_extended=True)


@pytest.mark.parametrize(
    ("today", "state"),
    [
        (dt.date(2025, 2, 1), "on_time"),
        (dt.date(2025, 2, 20), "on_time"),
        (dt.date(2025, 2, 21), "due_soon"),  # D-7
        (dt.date(2025, 2, 25), "due_soon"),
        (dt.date(2025, 2, 26), "urgent"),  # D-2
        (dt.date(2025, 2, 28), "urgent"),
        (dt.date(2025, 3, 1), "overdue"),
    ],
)
def test_deadline_warnings(today, state):
    now = dt.datetime.combine(today, dt.time(12), tzinfo=OSLO)
    assert rule.deadline_state(due=dt.date(2025, 2, 28), now=now) == state
    assert rule.deadline_state(due=dt.date(2025, 2, 28), now=now, is_open=False) == "closed"


@pytest.mark.parametrize(
    ("kind", "customer", "reason"),
    [
        ("access", True, None),
        ("portability", False, None),
        ("withdrawal", True, None),
        ("objection", True, None),
        ("erasure", False, None),
        ("erasure", True, rule.ACTIVE_CUSTOMER),
        ("rectification", False, rule.NEEDS_DECISION),
    ],
)
def test_which_verified_requests_need_the_privacy_officer(kind, customer, reason):
    assert rule.staff_step_reason(kind, is_active_customer=customer) == reason


# --- services --------------------------------------------------------------------------


def make_person(actor, now, n: int, **values):
    return people.create_person(
        actor=actor,
        now=now,
        source="form",
        values={"name": f"Testperson Nummer{n}", "email": f"testperson{n}@example.com", "phone": f"4123456{n}"}
        | values,
    )


def link_token(message) -> str:
    match = re.search(r"/rights/verify/([^/\s]+)/", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def submit(now, email, kind="access", **extra):
    services.submit_request(actor=PORTAL, now=now, email=email, kind=kind, language="en", ip="192.0.2.10", **extra)


pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(now):
    """Background tasks read the clock; keep it at the tests' "now"."""
    with time_machine.travel(now, tick=False):
        yield


def test_a_request_for_a_known_address_sends_a_link_to_the_address_we_hold(
    system_actor, now, smtp_server, immediate_tasks
):
    make_person(system_actor, now, 1)
    submit(now, " TestPerson1@Example.com ")
    assert [m["To"] for m in smtp_server.messages] == ["testperson1@example.com"]
    request = DataSubjectRequest.objects.get()
    assert request.status == "awaiting_verification"
    assert request.due_on == dt.date(2026, 12, 24)
    assert request.person_pseudonym == Person.objects.get().pseudonym
    # The request holds a keyed hash of the address, never the address.
    assert "testperson1" not in str(list(DataSubjectRequest.objects.values()))
    assert [e.kind for e in request.events.order_by("pk")] == ["received", "verification_sent"]


def test_an_unknown_address_gets_no_email_and_its_request_expires(now, smtp_server, immediate_tasks):
    submit(now, "nobody@example.com")
    assert smtp_server.messages == []
    request = DataSubjectRequest.objects.get()
    assert request.person_pseudonym is None
    assert services.expire_requests(actor=Actor.system("tests"), now=now + dt.timedelta(hours=23)) == 0
    assert services.expire_requests(actor=Actor.system("tests"), now=now + dt.timedelta(hours=25)) == 1
    request.refresh_from_db()
    assert request.status == "expired"


def test_unknown_request_types_are_refused(now):
    with pytest.raises(ValidationError) as caught:
        submit(now, "testperson1@example.com", kind="restriction_of_everything")
    assert caught.value.status == 422
    assert caught.value.field == "kind"


def test_a_duplicate_is_merged_into_the_open_request_with_a_fresh_link(system_actor, now, smtp_server, immediate_tasks):
    make_person(system_actor, now, 1)
    submit(now, "testperson1@example.com")
    first = link_token(smtp_server.messages[0])
    submit(now + dt.timedelta(minutes=5), "testperson1@example.com")
    assert DataSubjectRequest.objects.count() == 1
    assert len(smtp_server.messages) == 2
    second = link_token(smtp_server.messages[1])
    with pytest.raises(TokenError):  # the first link was replaced by the second
        services.confirm_verification(actor=PORTAL, now=now + dt.timedelta(minutes=6), token=first)
    services.confirm_verification(actor=PORTAL, now=now + dt.timedelta(minutes=6), token=second)
    assert DataSubjectRequest.objects.get().status == "completed"
    # A different type is a different request.
    submit(now + dt.timedelta(minutes=7), "testperson1@example.com", kind="portability")
    assert DataSubjectRequest.objects.count() == 2


def test_more_than_five_requests_an_hour_for_one_address_are_refused(now):
    for i in range(5):
        submit(
            now + dt.timedelta(minutes=i),
            "busy@example.com",
            kind=["access", "erasure", "portability", "objection", "withdrawal"][i],
        )
    with pytest.raises(services.RateLimitedError) as caught:
        submit(now + dt.timedelta(minutes=6), "busy@example.com")
    assert caught.value.status == 429
    submit(now + dt.timedelta(minutes=61), "busy@example.com")  # an hour later it works again


def test_expired_forged_and_used_links_change_nothing(system_actor, now, smtp_server, immediate_tasks):
    make_person(system_actor, now, 1)
    submit(now, "testperson1@example.com", kind="erasure")
    token = link_token(smtp_server.messages[0])
    with pytest.raises(TokenError):
        services.confirm_verification(actor=PORTAL, now=now, token=token[:-3] + "abc")
    with time_machine.travel(now + dt.timedelta(hours=25), tick=False), pytest.raises(TokenExpiredError):
        services.confirm_verification(actor=PORTAL, now=now + dt.timedelta(hours=25), token=token)
    assert Person.objects.count() == 1
    assert DataSubjectRequest.objects.get().status == "awaiting_verification"
    services.confirm_verification(actor=PORTAL, now=now + dt.timedelta(hours=1), token=token)
    assert Person.objects.count() == 0
    with pytest.raises(services.LinkUsedError):
        services.confirm_verification(actor=PORTAL, now=now + dt.timedelta(hours=2), token=token)
    assert ErasureReceipt.objects.count() == 1


def test_a_verified_erasure_leaves_no_identifier_anywhere(system_actor, now, smtp_server, immediate_tasks):
    org = people.create_organization(actor=system_actor, now=now, source="form", values={"name": "Delt AS"})
    person = make_person(system_actor, now, 1, organization_id=org.pk, name="Testperson Slettes")
    people.record_interaction(
        actor=system_actor,
        now=now,
        person_id=person.pk,
        kind="email",
        direction="inbound",
        occurred_at=now,
        summary="About Testperson Slettes",
    )
    submit(now, "testperson1@example.com", kind="erasure", details="Please delete Testperson Slettes, +4741234561")
    services.confirm_verification(actor=PORTAL, now=now, token=link_token(smtp_server.messages[0]))
    request = DataSubjectRequest.objects.get()
    assert request.status == "completed"
    assert request.details == ""
    receipt = ErasureReceipt.objects.get()
    assert request.erasure_receipt_id == receipt.pk
    assert request.outcome["receipt"] == str(receipt.pseudonym)
    assert {"name", "email", "correspondence"} <= set(request.outcome["erased"])
    assert find_identifiers(["Testperson Slettes", "testperson1@example.com", "+4741234561"]) == []
    answer = smtp_server.messages[-1].get_content()
    assert str(receipt.pseudonym) in answer
    assert "Testperson Slettes" not in answer
    assert [e.kind for e in request.events.order_by("pk")] == ["received", "verification_sent", "verified", "completed"]


def test_an_erasure_of_an_active_customer_goes_to_the_desk(system_actor, now, smtp_server, immediate_tasks):
    person = make_person(system_actor, now, 1)
    people.start_customer_relationship(actor=system_actor, now=now, person_id=person.pk)
    submit(now, "testperson1@example.com", kind="erasure")
    result = services.confirm_verification(actor=PORTAL, now=now, token=link_token(smtp_server.messages[0]))
    assert result.status == "in_progress"
    assert result.staff_step_reason == rule.ACTIVE_CUSTOMER
    assert Person.objects.filter(pk=person.pk).exists()
    assert RequestEvent.objects.filter(kind="needs_staff", note=rule.ACTIVE_CUSTOMER).count() == 1


def test_withdrawal_and_objection_complete_by_themselves(system_actor, now, smtp_server, immediate_tasks):
    person = make_person(system_actor, now, 1)
    people.start_customer_relationship(actor=system_actor, now=now, person_id=person.pk)
    submit(now, "testperson1@example.com", kind="objection")
    services.confirm_verification(actor=PORTAL, now=now, token=link_token(smtp_server.messages[0]))
    state = consent_selectors.consent_state(person_id=person.pk)
    assert state[("direct_marketing", consent_selectors.ALL_CHANNELS)] == "objected"
    submit(now, "testperson1@example.com", kind="withdrawal")
    result = services.confirm_verification(actor=PORTAL, now=now, token=link_token(smtp_server.messages[-1]))
    assert result.status == "completed"
    assert DataSubjectRequest.objects.filter(status="completed").count() == 2


def test_no_request_reaches_another_person_sharing_a_name_phone_or_organisation(
    system_actor, now, smtp_server, immediate_tasks
):
    org = people.create_organization(actor=system_actor, now=now, source="form", values={"name": "Felles AS"})
    values = {"name": "Testperson Lik", "phone": "41234567", "organization_id": org.pk}
    one = make_person(system_actor, now, 1, **values)
    two = make_person(system_actor, now, 2, **values)
    submit(now, "testperson2@example.com", kind="erasure")
    assert [m["To"] for m in smtp_server.messages] == ["testperson2@example.com"]
    services.confirm_verification(actor=PORTAL, now=now, token=link_token(smtp_server.messages[0]))
    assert list(Person.objects.values_list("pk", flat=True)) == [one.pk]
    assert not Person.objects.filter(pk=two.pk).exists()
    assert all(m["To"] == "testperson2@example.com" for m in smtp_server.messages)


def test_the_history_is_append_only(system_actor, now):
    submit(now, "nobody@example.com")
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        RequestEvent.objects.update(note="changed")
