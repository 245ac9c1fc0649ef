"""The register import as a real process, killed (SIGKILL) in the middle and run again: what it
wrote is whole batches only (each organisation with its provenance, each batch with its audit
entry), and the second run completes the file without duplicating anything."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stdnum.no import orgnr

from tillit.audit.models import AuditEntry
from tillit.people.models import Organization, Provenance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ENTITIES = 40_000
BATCH = 500


def numbers(n: int) -> list[str]:
    """Valid organisation numbers starting with 1 (never assigned by the register)."""
    found: list[str] = []
    base = 10_000_000
    while len(found) < n:
        for check in "0123456789":
            if orgnr.is_valid(f"{base}{check}"):
                found.append(f"{base}{check}")
                break
        base += 1
    return found


def write_register(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for i, number in enumerate(numbers(n)):
            entity = {
                "organisasjonsnummer": number,
                "navn": f"Avbrutt Import {i} AS",
                "naeringskode1": {"kode": "62.010", "beskrivelse": "Programmeringstjenester"},
                "forretningsadresse": {"adresse": [f"Testveien {i}"], "postnummer": "0150", "poststed": "OSLO"},
            }
            out.write(("," if i else "") + json.dumps(entity, ensure_ascii=False))
        out.write("]")


def import_process(env: dict[str, str], path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tillit.cli.main", "register", "import", str(path), "--batch-size", str(BATCH)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_import_leaves_whole_batches_and_the_next_run_completes_the_file(tillit_env, tmp_path):
    path = tmp_path / "enheter.json"
    write_register(path, ENTITIES)
    process = import_process(tillit_env, path)
    deadline = time.monotonic() + 120
    while Organization.objects.count() < 4 * BATCH:
        if process.poll() is not None:
            raise AssertionError(f"the import ended before it could be killed: {process.communicate()[1][-2000:]}")
        assert time.monotonic() < deadline, "the import did not get going"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    written = Organization.objects.count()
    assert 0 < written < ENTITIES, "killed in the middle"
    assert written % BATCH == 0, f"{written} organisations: a batch was half-written"
    assert Provenance.objects.filter(source="public_register").count() == written
    assert not Organization.objects.filter(provenance__isnull=True).exists()
    assert AuditEntry.objects.filter(action="register_import").count() == written // BATCH

    again = subprocess.run(
        [sys.executable, "-m", "tillit.cli.main", "register", "import", str(path), "--batch-size", str(BATCH)],
        env=tillit_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert f"{ENTITIES - written:,} new organisations" in again.stdout
    assert f"{written:,} unchanged" in again.stdout
    assert Organization.objects.count() == ENTITIES
    assert Organization.objects.values("org_number").distinct().count() == ENTITIES
    assert Provenance.objects.filter(source="public_register").count() == ENTITIES
