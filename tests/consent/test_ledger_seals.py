"""The consent ledger, the cookie choices and the disclosure ledger are tamper-evident, like the
audit log: the database refuses UPDATE and DELETE (erasure is the one exception, and leaves a
keyed removal mark), and someone who drops the triggers and rewrites a wording, moves a date,
deletes or inserts an entry is reported by ``tillit verify`` with the entry's id. A clean
ledger, and one after an erasure or a merge, verifies."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from tillit.audit import ledgers
from tillit.audit.models import LedgerRemoval
from tillit.consent import cookies
from tillit.consent import services as consent
from tillit.consent.models import ConsentEvent, CookieChoice
from tillit.people import services as people
from tillit.retention import services as retention
from tillit.sharing import verifier
from tillit.sharing.models import DisclosedPerson, Disclosure

from ..conftest import disclose_to_a_partner

pytestmark = pytest.mark.django_db

WORDING = "Yes, send me Avara's monthly newsletter. I can unsubscribe at any time."


@contextlib.contextmanager
def triggers_dropped(table: str) -> Iterator[None]:
    """What a direct database edit does first: drop (SQLite) or disable (PostgreSQL) the
    table's guards. The test's transaction puts them back."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign key checks
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table])
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP TRIGGER "{name}"')
    yield


def tamper(table: str, sql: str, params: list) -> None:  # type: ignore[type-arg]
    with triggers_dropped(table), connection.cursor() as cursor:
        cursor.execute(sql, params)


def found() -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for v in verifier.tampered_ledgers():
        result.setdefault(v.kind, []).append(v.subject)
    return result


def give(system_actor, now, person, *, days_ago: int = 0):  # type: ignore[no-untyped-def]
    return consent.record_consent(
        actor=system_actor,
        now=now - dt.timedelta(days=days_ago),
        person_id=person.pk,
        purpose="newsletter",
        channel="email",
        source_kind="form",
        wording=WORDING,
        language="en",
        evidence_ip="192.0.2.7",
    )


@pytest.fixture
def kari(system_actor, now):  # type: ignore[no-untyped-def]
    return people.create_person(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Kari Forseglet", "email": "kari.forseglet@example.com"},
    )


@pytest.fixture
def ledger(system_actor, now, kari):  # type: ignore[no-untyped-def]
    """Three consent entries of one person (given, withdrawn... as three givens), a second
    person's entry, two cookie choices of one browser."""
    ola = people.create_person(actor=system_actor, now=now, source="form", values={"name": "Ola Forseglet"})
    events = [give(system_actor, now, kari, days_ago=d) for d in (30, 20, 10)]
    give(system_actor, now, ola, days_ago=5)
    texts = {"title": "Cookies", "accept": "Accept"}
    digest = cookies.store_banner_wording(now=now, language="en", texts=texts)
    browser, first = cookies.record_cookie_choice(
        now=now, browser_id=None, categories=["statistics"], wording=digest, language="en", gpc=False
    )
    _, second = cookies.record_cookie_choice(
        now=now, browser_id=browser, categories=[], wording=digest, language="en", gpc=False
    )
    return {"events": events, "choices": [first, second]}


def test_a_clean_ledger_verifies(ledger):
    assert found() == {}


def test_the_database_refuses_to_delete_or_update_an_entry(ledger):
    event = ledger["events"][0]
    for statement in (
        ("DELETE FROM consent_consentevent WHERE id = %s", [event.pk]),
        ("UPDATE consent_consentevent SET wording = 'I agree to everything' WHERE id = %s", [event.pk]),
        ("DELETE FROM consent_cookiechoice WHERE id = %s", [ledger["choices"][0].pk]),
        ("DELETE FROM audit_ledgerseal WHERE entry_id = %s", [event.pk]),
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(*statement)
    assert ConsentEvent.objects.filter(pk=event.pk, wording=WORDING).exists()


def test_a_rewritten_wording_is_reported_with_the_entry_id(ledger):
    event = ledger["events"][1]
    tamper("consent_consentevent", "UPDATE consent_consentevent SET wording = %s WHERE id = %s", ["I agree", event.pk])
    assert found() == {"ledger_entry_altered": [f"consent:#{event.pk}"]}


def test_a_moved_date_is_reported_with_the_entry_id(ledger, now):
    event = ledger["events"][0]
    earlier = connection.ops.adapt_datetimefield_value(now - dt.timedelta(days=400))
    tamper(
        "consent_consentevent", "UPDATE consent_consentevent SET occurred_at = %s WHERE id = %s", [earlier, event.pk]
    )
    assert found() == {"ledger_entry_altered": [f"consent:#{event.pk}"]}


def test_a_deleted_entry_is_reported_with_its_id(ledger):
    for event in (ledger["events"][1], ledger["events"][2]):  # one in the middle, then the newest
        tamper("consent_consentevent", "DELETE FROM consent_consentevent WHERE id = %s", [event.pk])
        assert found()["ledger_entry_deleted"][-1] == f"consent:#{event.pk}"
    assert set(found()) == {"ledger_entry_deleted"}


def test_an_inserted_entry_is_reported_with_its_id(ledger, kari, now):
    forged = ConsentEvent.objects.create(
        person=kari,
        purpose="direct_marketing",
        channel="email",
        action="given",
        basis="consent",
        occurred_at=now - dt.timedelta(days=15),
        source_kind="form",
        wording=WORDING,
        language="en",
        notice_version_id=ledger["events"][0].notice_version_id,
    )
    assert found() == {"ledger_entry_inserted": [f"consent:#{forged.pk}"]}


def test_a_forged_removal_mark_does_not_hide_a_deletion(ledger, now):
    event = ledger["events"][0]
    LedgerRemoval.objects.create(
        ledger="consent",
        entry_id=event.pk,
        scope=str(event.person_id),
        reason="erasure:request",
        removed_at=now,
        mark="0" * 64,
    )
    with connection.cursor() as cursor:  # the trigger lets it go: a mark is there
        cursor.execute("DELETE FROM consent_consentevent WHERE id = %s", [event.pk])
    assert found() == {"ledger_entry_deleted": [f"consent:#{event.pk}"]}


def test_cookie_choices_rewritten_deleted_or_inserted_are_reported(ledger, now):
    first, second = ledger["choices"]
    tamper(
        "consent_cookiechoice",
        "UPDATE consent_cookiechoice SET categories = %s WHERE id = %s",
        ['["statistics"]', second.pk],
    )
    tamper("consent_cookiechoice", "DELETE FROM consent_cookiechoice WHERE id = %s", [first.pk])
    forged = CookieChoice.objects.create(
        browser_id=uuid.uuid4(),
        categories=["statistics", "functional"],
        notice_version_id=first.notice_version_id,
        wording_id=first.wording_id,
        language="en",
        chosen_at=now,
    )
    assert found() == {
        "ledger_entry_altered": [f"cookie_choice:#{second.pk}"],
        "ledger_entry_deleted": [f"cookie_choice:#{first.pk}"],
        "ledger_entry_inserted": [f"cookie_choice:#{forged.pk}"],
    }


def test_the_disclosure_ledger_rewritten_deleted_or_inserted_is_reported(staff_actor, kari, now):
    officer, sales = staff_actor("privacy_officer"), staff_actor("sales")
    disclose_to_a_partner(officer, sales, now, kari, disclosed_at=now - dt.timedelta(days=1))
    assert found() == {}
    disclosure = Disclosure.objects.get()
    row = DisclosedPerson.objects.get()
    later = connection.ops.adapt_datetimefield_value(now)
    tamper(
        "sharing_disclosure", "UPDATE sharing_disclosure SET disclosed_at = %s WHERE id = %s", [later, disclosure.pk]
    )
    tamper("sharing_disclosedperson", "DELETE FROM sharing_disclosedperson WHERE id = %s", [row.pk])
    forged = DisclosedPerson.objects.create(disclosure=disclosure, pseudonym=uuid.uuid4(), categories=["name"])
    assert found() == {
        "ledger_entry_altered": [f"disclosure:#{disclosure.pk}"],
        "ledger_entry_deleted": [f"disclosed_person:#{row.pk}"],
        "ledger_entry_inserted": [f"disclosed_person:#{forged.pk}"],
    }


def test_erasure_deletes_the_entries_leaving_a_verifiable_mark(ledger, kari, system_actor, now):
    ids = [e.pk for e in ledger["events"]]
    assert retention.erase_person(actor=system_actor, now=now, person_id=kari.pk, reason="request").erased
    assert not ConsentEvent.objects.filter(pk__in=ids).exists()
    marks = LedgerRemoval.objects.filter(ledger="consent").order_by("entry_id")
    assert [(m.entry_id, m.reason) for m in marks] == [(i, "erasure:request") for i in ids]
    assert found() == {}, "the chain survives the erasure: its seals stay as tombstones"


def test_a_merge_copies_the_entries_and_the_chain_still_verifies(ledger, kari, system_actor, now):
    twin = people.create_person(actor=system_actor, now=now, source="form", values={"name": "Kari F."})
    give(system_actor, now, twin, days_ago=2)
    people.merge_people(actor=system_actor, now=now, keep_id=kari.pk, duplicate_id=twin.pk)
    assert ConsentEvent.objects.filter(person=kari).count() == 4
    assert found() == {}


def test_tillit_verify_prints_the_entry_and_exits_non_zero(ledger):
    event = ledger["events"][0]
    tamper("consent_consentevent", "UPDATE consent_consentevent SET wording = %s WHERE id = %s", ["I agree", event.pk])
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify", stdout=out)
    assert exit_info.value.code == 1
    assert f"consent:#{event.pk}" in out.getvalue()
    assert "ledger_entry_altered" in out.getvalue()


def test_the_bulk_loaders_seal_set_based(system_actor, now):
    """Demo data (written by COPY/executemany, not the services) is sealed in its own
    transaction, chunk by chunk, and verifies."""
    from tillit.people import demo

    summary = demo.generate_demo(people=300, seed=7, now=now, chunk_size=100)
    assert summary.consents > 0
    assert found() == {}
    assert ledgers.seal("consent") == 0, "nothing left unsealed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL's concurrent writers")
def test_two_choices_of_one_browser_at_once_both_join_its_chain(now):
    """The second writer of a scope waits for the first one's commit (the scope's lock) and then
    seals after it: both choices land, the chain verifies."""
    import threading
    import time

    import psycopg

    from ..conftest import database_url

    digest = cookies.store_banner_wording(now=now, language="en", texts={"title": "Cookies"})
    browser, _ = cookies.record_cookie_choice(
        now=now, browser_id=None, categories=[], wording=digest, language="en", gpc=False
    )
    sealed, release, errors = threading.Event(), threading.Event(), []

    def choose(hold: bool) -> None:
        try:
            with transaction.atomic():
                cookies.record_cookie_choice(
                    now=now, browser_id=browser, categories=["statistics"], wording=digest, language="en", gpc=False
                )
                if hold:
                    sealed.set()
                    release.wait(30)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=choose, args=(True,))
    first.start()
    assert sealed.wait(30)
    second = threading.Thread(target=choose, args=(False,))
    second.start()
    with psycopg.connect(database_url(), autocommit=True) as watcher:
        deadline = time.monotonic() + 30
        while not watcher.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        ).fetchone():
            assert time.monotonic() < deadline, "the second writer never waited for the scope's lock"
            time.sleep(0.02)
    release.set()
    first.join(30)
    second.join(30)
    assert errors == []
    assert CookieChoice.objects.filter(browser_id=browser).count() == 3
    assert found() == {}
