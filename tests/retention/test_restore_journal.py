"""A restore never brings back what was erased or withdrawn (issue 24, item 4).

The journal a restore replays is selected by commit order, not by the clock; it covers
consents, withdrawals, objections and subscriptions, not only erasures; it is written to a file
before the database is replaced, so a restore that fails half-way is finished by a retry; and a
restore refuses while workers or other sessions run. ``tillit backup`` and ``tillit restore``
run as real processes against the test database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from tillit.audit import ledgers
from tillit.consent import selectors as consent_selectors
from tillit.consent import services as consent
from tillit.consent.models import Subscription
from tillit.core.actors import Actor
from tillit.people import services as people
from tillit.people.models import Person
from tillit.retention import backup as backups
from tillit.retention.models import JournalEntry
from tillit.retention.services import erase_person

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WORDING = "Yes, send me Avara's newsletter. I can unsubscribe at any time."


@pytest.fixture(autouse=True)
def _own_data_dir(settings, tillit_env, tmp_path):  # type: ignore[no-untyped-def]
    """Where a restore keeps its journal until it has finished: this test's own directory,
    for the restore run here and the ones run as processes."""
    settings.DATA_DIR = tmp_path / "data"
    tillit_env["TILLIT_DATA_DIR"] = str(tmp_path / "data")


def tillit(env, *args: str) -> subprocess.CompletedProcess[str]:
    connection.close()  # the restore replaces the database under us: hold no session
    return subprocess.run(
        [sys.executable, "-m", "tillit.cli.main", *args], env=env, capture_output=True, text=True, timeout=300
    )


def person(actor: Actor, n: int) -> Person:
    return people.create_person(
        actor=actor,
        now=timezone.now(),
        source="form",
        values={"name": f"Testperson Journal{n}", "email": f"journal{n}@example.com", "phone": f"41776{n:03d}"},
    )


def subscribe(actor: Actor, who: Person) -> None:
    consent.open_subscription(
        actor=actor,
        now=timezone.now(),
        person_id=who.pk,
        newsletter="monthly",
        source_kind="double_opt_in",
        wording=WORDING,
        language="en",
    )


def take_backup(env, path) -> dict:
    made = tillit(env, "backup", str(path))
    assert made.returncode == 0, made.stderr
    return backups.read_manifest(path)


def test_an_erasure_whose_clock_is_long_before_the_backup_but_committed_after_it_stays(
    system_actor, tmp_path, tillit_env
):
    """A sweep that began an hour before the backup and committed after it (the old journal
    started 10 minutes before the backup, by the clock, and missed it)."""
    erased = person(system_actor, 1)
    path = tmp_path / "tillit.backup"
    take_backup(tillit_env, path)
    began = timezone.now() - dt.timedelta(hours=1)
    erase_person(actor=system_actor, now=began, person_id=erased.pk, reason="sweep")

    restored = tillit(tillit_env, "restore", str(path), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "erased 1 people again" in restored.stdout
    assert not Person.objects.filter(email="journal1@example.com").exists()


def test_an_erasure_in_flight_while_the_backup_is_taken_stays_erased(system_actor, tmp_path, tillit_env):
    """The erasure has written its receipt but not committed when the backup's snapshot is
    taken; it commits after. Its journal entry is the backup's to replay."""
    erased = person(system_actor, 2)
    kept = person(system_actor, 3)
    path = tmp_path / "tillit.backup"
    written, backed_up = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def erase_slowly() -> None:
        try:
            with transaction.atomic():
                erase_person(
                    actor=system_actor, now=timezone.now() - dt.timedelta(hours=2), person_id=erased.pk, reason="sweep"
                )
                written.set()
                assert backed_up.wait(120)
        except BaseException as error:
            failures.append(error)
            written.set()
        finally:
            connection.close()

    worker = threading.Thread(target=erase_slowly)
    worker.start()
    assert written.wait(60)
    try:
        manifest = take_backup(tillit_env, path)
    finally:
        backed_up.set()
        worker.join(60)
    assert not failures
    assert manifest["journal"]  # where the journal stood in the backup's snapshot

    restored = tillit(tillit_env, "restore", str(path), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert not Person.objects.filter(email="journal2@example.com").exists()
    assert Person.objects.filter(pk=kept.pk).exists()


def test_withdrawals_unsubscribes_objections_and_new_consents_survive_a_restore(system_actor, tmp_path, tillit_env):
    unsubscribes, withdraws, objects, subscribes_later = (person(system_actor, n) for n in (4, 5, 6, 7))
    subscribe(system_actor, unsubscribes)
    consent.record_consent(
        actor=system_actor,
        now=timezone.now(),
        person_id=withdraws.pk,
        purpose="direct_marketing",
        channel="email",
        source_kind="form",
        wording="Yes, tell me about Avara's products by email.",
        language="en",
    )
    people.start_customer_relationship(actor=system_actor, now=timezone.now(), person_id=withdraws.pk)
    path = tmp_path / "tillit.backup"
    take_backup(tillit_env, path)

    # After the backup: none of these erases anyone, so no erasure receipt records them.
    now = timezone.now()
    assert consent.end_subscription(
        actor=system_actor, now=now, person_id=unsubscribes.pk, newsletter="monthly", source_kind="email_link",
        language="en",
    )  # fmt: skip
    withdrawal = consent.withdraw_consent(
        actor=system_actor, now=now, person_id=withdraws.pk, source_kind="email_link", language="en",
        purpose="direct_marketing",
    )  # fmt: skip
    assert not withdrawal.erased  # kept as a customer
    assert consent.object_to_purpose(
        actor=system_actor, now=now, person_id=objects.pk, purpose="sales_dialogue", source_kind="staff", language="en"
    )
    subscribe(system_actor, subscribes_later)

    restored = tillit(tillit_env, "restore", str(path), "--yes")
    assert restored.returncode == 0, restored.stderr

    assert (
        consent_selectors.eligibility(person_id=unsubscribes.pk, purpose="newsletter", channel="email").allowed is False
    )
    assert Subscription.objects.get(person_id=unsubscribes.pk, newsletter="monthly").unsubscribed_at is not None
    assert (
        consent_selectors.eligibility(person_id=withdraws.pk, purpose="direct_marketing", channel="email").allowed
        is False
    )
    state = consent_selectors.consent_state(person_id=objects.pk)
    assert state[("sales_dialogue", consent_selectors.ALL_CHANNELS)] == "objected"
    assert Subscription.objects.get(person_id=subscribes_later.pk, newsletter="monthly").unsubscribed_at is None
    # The re-applied ledger entries are sealed into their chains: the restored ledger still verifies.
    assert list(ledgers.problems()) == []
    # The deadlines follow the restored facts: the unsubscribed person now has one again.
    assert Person.objects.get(pk=unsubscribes.pk).retain_until is not None
    assert Person.objects.get(pk=subscribes_later.pk).retain_until is None

    # A second restore of the same backup (its journal now read from the restored database,
    # which holds the re-applied entries) gives the same state, and nothing twice.
    again = tillit(tillit_env, "restore", str(path), "--yes")
    assert again.returncode == 0, again.stderr
    assert (
        consent_selectors.consent_state(person_id=objects.pk)[("sales_dialogue", consent_selectors.ALL_CHANNELS)]
        == "objected"
    )
    from tillit.consent.models import ConsentEvent

    assert ConsentEvent.objects.filter(person_id=objects.pk, action="objected").count() == 1


def test_a_restore_that_fails_half_way_is_finished_by_a_retry_from_its_journal_file(system_actor, tmp_path, tillit_env):
    erased, withdraws = person(system_actor, 8), person(system_actor, 9)
    subscribe(system_actor, withdraws)
    path = tmp_path / "tillit.backup"
    manifest = take_backup(tillit_env, path)
    erase_person(actor=system_actor, now=timezone.now(), person_id=erased.pk, reason="request")
    assert consent.end_subscription(
        actor=system_actor, now=timezone.now(), person_id=withdraws.pk, newsletter="monthly",
        source_kind="email_link", language="en",
    )  # fmt: skip
    saved = backups.pending_journal_path(manifest)

    class Crash(Exception):
        pass

    def crash_before_the_erasures(message: str) -> None:
        if message.startswith("journal:"):
            assert saved.exists()  # written before anything is replaced
        if message == "re-applying the erasures":
            raise Crash  # the process dies half-way through the replay

    connection.close()
    with pytest.raises(Crash):
        backups.restore_backup(
            actor=Actor.system("restore"), now=timezone.now(), path=path, progress=crash_before_the_erasures
        )
    # Half-way: the database is the backup's, the erased person is back for now...
    assert Person.objects.filter(email="journal8@example.com").exists()
    assert saved.exists()

    # ...and the retry, reading the restored database, still knows of the erasure.
    retried = tillit(tillit_env, "restore", str(path), "--yes")
    assert retried.returncode == 0, retried.stderr
    assert "an earlier attempt left its journal" in retried.stdout
    assert not Person.objects.filter(email="journal8@example.com").exists()
    assert consent_selectors.eligibility(person_id=withdraws.pk, purpose="newsletter", channel="email").allowed is False
    assert not saved.exists()  # finished: the file is gone


def test_a_restore_refuses_while_a_worker_runs_a_task(system_actor, tmp_path, tillit_env):
    from django_tasks_db.models import DBTaskResult

    from tillit.retention.tasks import sweep_past_deadline

    kept = person(system_actor, 10)
    path = tmp_path / "tillit.backup"
    manifest = take_backup(tillit_env, path)
    Person.objects.filter(pk=kept.pk).update(position="Changed after the backup")
    task = sweep_past_deadline.enqueue()
    # What db_worker does when it takes the task.
    DBTaskResult.objects.filter(pk=task.id).update(status="RUNNING", started_at=timezone.now(), worker_ids=["w1"])

    refused = tillit(tillit_env, "restore", str(path), "--yes")
    assert refused.returncode != 0
    assert "background task(s) are running" in refused.stderr
    assert Person.objects.get(pk=kept.pk).position == "Changed after the backup"
    assert not backups.pending_journal_path(manifest).exists()

    DBTaskResult.objects.filter(pk=task.id).update(status="SUCCESSFUL", finished_at=timezone.now())
    done = tillit(tillit_env, "restore", str(path), "--yes")
    assert done.returncode == 0, done.stderr
    assert Person.objects.get(pk=kept.pk).position != "Changed after the backup"


def test_a_restore_refuses_while_another_session_is_connected(system_actor, tmp_path, tillit_env):
    if connection.vendor != "postgresql":
        pytest.skip("other sessions are seen on PostgreSQL (pg_stat_activity)")
    path = tmp_path / "tillit.backup"
    take_backup(tillit_env, path)
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings.get("HOST") or "127.0.0.1",
        port=settings.get("PORT") or 5432,
        user=settings.get("USER") or "postgres",
        dbname=settings["NAME"],
        autocommit=True,
    ):
        refused = tillit(tillit_env, "restore", str(path), "--yes")
    assert refused.returncode != 0
    assert "other session(s) are connected" in refused.stderr


def test_every_journalled_change_is_noted_by_the_database(system_actor):
    """The triggers cover the four tables (and survive migrations that rebuild them)."""
    before = JournalEntry.objects.count()
    someone = person(system_actor, 11)
    subscribe(system_actor, someone)  # a consent and a subscription
    consent.object_to_direct_marketing(
        actor=system_actor, now=timezone.now(), person_id=someone.pk, source_kind="staff", language="en"
    )  # an objection, the subscription closed, the address and number suppressed
    erase_person(actor=system_actor, now=timezone.now(), person_id=someone.pk, reason="request")
    kinds = list(JournalEntry.objects.filter(pk__gt=0).order_by("pk").values_list("kind", flat=True))[before:]
    assert kinds.count("consent") == 2
    assert kinds.count("subscription") == 2
    assert kinds.count("suppression") == 2
    assert kinds.count("receipt") == 1


def test_a_consent_under_a_notice_published_after_the_backup_comes_back_with_its_notice(
    system_actor, tmp_path, tillit_env
):
    from tillit import policy
    from tillit.consent.models import ConsentEvent

    someone = person(system_actor, 12)
    path = tmp_path / "tillit.backup"
    take_backup(tillit_env, path)
    notice = consent.publish_notice(
        actor=system_actor,
        now=timezone.now(),
        texts={language: f"Privacy notice, second edition ({language})" for language in policy.current().languages},
        policy_digest=policy.current().digest,
        purposes=list(policy.current().purposes),
    )
    subscribe(system_actor, someone)

    restored = tillit(tillit_env, "restore", str(path), "--yes")
    assert restored.returncode == 0, restored.stderr
    given = ConsentEvent.objects.select_related("notice_version").get(person_id=someone.pk, action="given")
    assert given.notice_version.digest == notice.digest
    assert given.wording == WORDING


def test_the_journal_the_oldest_kept_backup_holds_can_be_pruned(system_actor, tmp_path, tillit_env):
    before, after = person(system_actor, 13), person(system_actor, 14)
    subscribe(system_actor, before)
    oldest = tmp_path / "oldest.backup"
    take_backup(tillit_env, oldest)
    assert JournalEntry.objects.filter(kind__in=["consent", "subscription"]).exists()
    subscribe(system_actor, after)  # after the oldest backup: kept
    since = JournalEntry.objects.order_by("pk").values_list("pk", flat=True).last()

    pruned = tillit(tillit_env, "backup", str(oldest), "--prune-journal")
    assert pruned.returncode == 0, pruned.stderr
    assert "Deleted 2 journal entries" in pruned.stdout  # the consent and subscription of `before`
    kept = JournalEntry.objects.values_list("pk", flat=True)
    assert since in kept
    assert len(kept) == 2

    # The oldest backup still restores whole: what came after it is re-applied, and an
    # erasure after the pruning too.
    erase_person(actor=system_actor, now=timezone.now(), person_id=before.pk, reason="request")
    restored = tillit(tillit_env, "restore", str(oldest), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert not Person.objects.filter(pk=before.pk).exists()
    assert Subscription.objects.filter(person_id=after.pk, unsubscribed_at=None).exists()


def test_a_backup_taken_before_another_restore_still_finds_the_changes_made_after_it(
    system_actor, tmp_path, tillit_env
):
    """SQLite numbers the journal in commit order; a restore must not set the numbering back,
    or a change made after it would look older than a backup taken before it."""
    erased_later = person(system_actor, 15)
    first, second = tmp_path / "first.backup", tmp_path / "second.backup"
    take_backup(tillit_env, first)
    newcomer = person(system_actor, 16)  # not in the first backup: nothing of theirs is replayed
    subscribe(system_actor, newcomer)
    take_backup(tillit_env, second)
    assert tillit(tillit_env, "restore", str(first), "--yes").returncode == 0
    erase_person(actor=system_actor, now=timezone.now(), person_id=erased_later.pk, reason="request")

    restored = tillit(tillit_env, "restore", str(second), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert not Person.objects.filter(email="journal15@example.com").exists()
    assert Person.objects.filter(email="journal16@example.com").exists()


def test_a_cookie_consent_withdrawn_after_the_backup_stays_withdrawn(tmp_path, tillit_env):
    from tillit.consent import cookies
    from tillit.consent.models import CookieChoice

    first = cookies.store_banner_wording(now=timezone.now(), language="en", texts={"title": "Cookies", "v": 1})
    browser, _ = cookies.record_cookie_choice(
        now=timezone.now(), browser_id=None, categories=["statistics"], wording=first, language="en", gpc=False
    )
    path = tmp_path / "tillit.backup"
    take_backup(tillit_env, path)
    # After the backup the banner's wording changed, and the visitor withdrew (no categories).
    second = cookies.store_banner_wording(now=timezone.now(), language="en", texts={"title": "Cookies", "v": 2})
    cookies.record_cookie_choice(
        now=timezone.now(), browser_id=browser, categories=[], wording=second, language="en", gpc=False
    )

    restored = tillit(tillit_env, "restore", str(path), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "1 cookie choices" in restored.stdout
    latest = CookieChoice.objects.filter(browser_id=browser).order_by("-chosen_at", "-pk").select_related("wording")
    assert latest[0].categories == []
    assert latest[0].wording.digest == second
    assert latest.count() == 2
    state = cookies.cookie_state(browser_id=browser)
    assert state is not None
    assert not state.allows("statistics")
    assert list(ledgers.problems()) == []  # the re-applied choice joined its browser's chain


def test_migrate_puts_back_journal_triggers_a_table_rebuild_dropped(system_actor):
    """SQLite drops a table's triggers when a migration rebuilds the table; every migrate
    installs them again."""
    from django.core.management import call_command

    from tillit.retention.journal import remove_triggers

    remove_triggers(connection)
    call_command("migrate", verbosity=0, interactive=False)
    before = JournalEntry.objects.count()
    subscribe(system_actor, person(system_actor, 17))
    assert JournalEntry.objects.count() == before + 2  # the consent and the subscription
