"""Backups that never resurrect the erased: ``tillit backup`` and ``tillit restore`` run as real
processes against the test database (SQLite and PostgreSQL). Whoever was erased or suppressed
after the backup was taken stays erased and suppressed after it is restored."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection
from django.utils import timezone

from tillit.audit.selectors import verify_chain
from tillit.consent import selectors as consent_selectors
from tillit.consent import services as consent
from tillit.people import services as people
from tillit.people.models import Person
from tillit.retention.models import ErasureReceipt
from tillit.retention.selectors import find_identifiers
from tillit.retention.services import erase_person

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def tillit(env, *args: str) -> subprocess.CompletedProcess[str]:
    connection.close()  # the restore replaces the database under us: hold no session
    return subprocess.run(
        [sys.executable, "-m", "tillit.cli.main", *args], env=env, capture_output=True, text=True, timeout=300
    )


def person(actor, n: int, name: str) -> Person:
    return people.create_person(
        actor=actor,
        now=timezone.now(),
        source="form",
        values={"name": name, "email": f"backup{n}@example.com", "phone": f"4199887{n}"},
    )


@pytest.fixture
def before_backup(system_actor):
    return {
        "erased": person(system_actor, 1, "Testperson Erasedlater"),
        "objecting": person(system_actor, 2, "Testperson Objectslater"),
        "kept": person(system_actor, 3, "Testperson Staysput"),
    }


def test_a_restored_backup_does_not_bring_back_anyone_erased_after_it(
    before_backup, system_actor, tmp_path, tillit_env
):
    backup = tmp_path / "tillit.backup"
    made = tillit(tillit_env, "backup", str(backup))
    assert made.returncode == 0, made.stderr
    assert "Backed up the" in made.stdout

    # After the backup: one person is erased on request, one objects to direct marketing.
    erase_person(actor=system_actor, now=timezone.now(), person_id=before_backup["erased"].pk, reason="request")
    consent.object_to_direct_marketing(
        actor=system_actor,
        now=timezone.now(),
        person_id=before_backup["objecting"].pk,
        source_kind="staff",
        language="en",
    )
    assert consent_selectors.is_suppressed(email="backup2@example.com")

    restored = tillit(tillit_env, "restore", str(backup), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "erased 1 people again" in restored.stdout

    # The erased person is gone again, everywhere, and their receipt is back.
    assert not Person.objects.filter(email="backup1@example.com").exists()
    assert find_identifiers(["backup1@example.com", "Testperson Erasedlater", "41998871"]) == []
    assert ErasureReceipt.objects.filter(pseudonym=before_backup["erased"].pseudonym).count() == 2  # request + restore
    # The objection's suppression survived the restore; the others are as they were.
    assert consent_selectors.is_suppressed(email="backup2@example.com")
    assert Person.objects.filter(email="backup3@example.com").exists()
    assert verify_chain().is_intact


def test_the_journal_can_come_from_a_file_when_the_database_is_lost(before_backup, system_actor, tmp_path, tillit_env):
    backup, journal = tmp_path / "tillit.backup", tmp_path / "journal.json"
    assert tillit(tillit_env, "backup", str(backup)).returncode == 0
    erase_person(actor=system_actor, now=timezone.now(), person_id=before_backup["erased"].pk, reason="request")
    exported = tillit(tillit_env, "backup", str(journal), "--journal", str(backup))
    assert exported.returncode == 0, exported.stderr
    assert "1 erasure receipts" in exported.stdout
    # The database loses its receipts (as if it were lost and rebuilt); the journal file remains.
    ErasureReceipt.objects.all().delete()
    restored = tillit(tillit_env, "restore", str(backup), "--yes", "--journal", str(journal))
    assert restored.returncode == 0, restored.stderr
    assert not Person.objects.filter(email="backup1@example.com").exists()
    assert ErasureReceipt.objects.filter(pseudonym=before_backup["erased"].pseudonym, reason="request").exists()


def test_bad_input_changes_nothing(before_backup, tmp_path, tillit_env):
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    failed = tillit(tillit_env, "restore", str(not_a_backup), "--yes")
    assert failed.returncode != 0
    assert "not a tillit backup" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1

    backup = tmp_path / "tillit.backup"
    assert tillit(tillit_env, "backup", str(backup)).returncode == 0
    Person.objects.filter(pk=before_backup["kept"].pk).update(position="Changed after the backup")
    unconfirmed = tillit(tillit_env, "restore", str(backup))
    assert unconfirmed.returncode != 0
    assert "--yes" in unconfirmed.stderr
    assert Person.objects.get(pk=before_backup["kept"].pk).position == "Changed after the backup"

    bad_journal = tillit(tillit_env, "restore", str(backup), "--yes", "--journal", str(not_a_backup))
    assert bad_journal.returncode != 0
    assert "not an erasure journal" in bad_journal.stderr
    assert Person.objects.get(pk=before_backup["kept"].pk).position == "Changed after the backup"
