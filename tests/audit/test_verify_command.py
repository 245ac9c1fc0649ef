"""``tillit audit verify``: "audit chain intact: N entries" and exit 0 on a clean log; one line
naming the first broken entry on stderr and exit 1 when an entry was edited, deleted or
reordered behind the application's back."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.audit.conftest import raw_sql, swap_sequences
from tillit.audit.models import AuditEntry


def verify_with(*args: str) -> tuple[int, str, str]:
    """Run ``tillit audit verify *args`` in this process: (exit code, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("audit", "verify", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def verify() -> tuple[int, str, str]:
    return verify_with()


@pytest.mark.django_db
def test_a_clean_log_passes(people_log):
    code, out, err = verify()
    assert code == 0
    assert out.splitlines()[0] == f"audit chain intact: {AuditEntry.objects.count():,} entries"
    assert err == ""


@pytest.mark.django_db
def test_an_empty_log_passes():
    assert verify()[:2] == (0, "audit chain intact: 0 entries\n")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda: raw_sql("UPDATE {table} SET action = 'create' WHERE sequence = 6"), "entry 6: edited"),
        (lambda: raw_sql("DELETE FROM {table} WHERE sequence = 3"), "entry 3: deleted"),
        (lambda: swap_sequences(7, 8), "entry 7: reordered"),
    ],
    ids=["edited", "deleted", "reordered"],
)
def test_a_tampered_log_fails_with_one_line(people_log, tamper, expected):
    tamper()
    code, out, err = verify()
    assert code == 1
    assert err == f"audit chain broken at {expected}\n"
    assert "intact" not in out


@pytest.mark.django_db
def test_the_head_printed_can_be_checked_later(people_log):
    code, out, _ = verify()
    head = out.splitlines()[1].split()[1]
    assert code == 0
    assert verify_with("--anchor", head)[0] == 0
    raw_sql("DELETE FROM {table} WHERE sequence = %s", [AuditEntry.objects.count()])
    code, _, err = verify_with("--anchor", head)
    assert code == 1
    assert err.endswith(": deleted\n")


@pytest.mark.django_db
def test_a_malformed_anchor_is_one_line(people_log):
    with pytest.raises(CommandError, match="expected SEQUENCE:HASH"):
        call_command("audit", "verify", "--anchor", "12:nothex", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_the_real_command_passes_then_fails_after_an_edit(people_log, tillit_env):
    command = [sys.executable, "-m", "tillit.cli.main", "audit", "verify"]
    clean = subprocess.run(command, env=tillit_env, capture_output=True, text=True, timeout=120, check=False)
    assert clean.returncode == 0, clean.stderr
    assert f"audit chain intact: {AuditEntry.objects.count():,} entries" in clean.stdout

    raw_sql("UPDATE {table} SET subject_id = subject_id + 1 WHERE sequence = 2")
    broken = subprocess.run(command, env=tillit_env, capture_output=True, text=True, timeout=120, check=False)
    assert broken.returncode == 1
    assert broken.stderr.strip().splitlines() == ["audit chain broken at entry 2: edited"]
