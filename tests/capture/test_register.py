"""Public register enrichment (policy §6): the bulk file of Enhetsregisteret becomes
organisations with provenance "public register"; the register of roles never comes in; bad
rows are reported and never stop good ones; it streams (gzip too) and batches."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tillit.audit.models import AuditEntry
from tillit.capture import register
from tillit.people import services as people
from tillit.people.models import Organization, Provenance

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "enhetsregisteret.json"


def entities() -> list[dict]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def write(tmp_path: Path, rows: object, name: str = "enheter.json", raw: str | None = None) -> Path:
    path = tmp_path / name
    path.write_text(raw if raw is not None else json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def run(path: Path, now, system_actor, **kwargs) -> register.ImportSummary:  # type: ignore[no-untyped-def]
    return register.import_entities(actor=system_actor, now=now, path=path, **kwargs)


def test_the_fixture_becomes_organisations_with_public_register_provenance(now, system_actor):
    summary = run(FIXTURE, now, system_actor)
    assert (summary.read, summary.inserted, summary.updated, summary.rejected) == (9, 9, 0, 0)
    org = Organization.objects.get(org_number="100000016")
    assert (org.name, org.industry_code, org.industry_code_version) == ("Nordavind Testdata AS", "70.220", "SN2025")
    assert (org.street, org.postcode, org.city, org.country) == ("Prøvegata 12, Bygg B", "0150", "OSLO", "NO")
    first = Organization.objects.get(org_number="100000008")
    assert first.industry_code_version == "SN2007", "codes that do not name their version"
    club = Organization.objects.get(name="Testforeningen for Eksempler")
    assert (club.industry_code, club.street, club.country) == ("", "", "NO")
    fields = set(Provenance.objects.filter(organization=org).values_list("field", "source"))
    assert fields == {("*", "public_register")}, "one row covers every field of a new organisation"
    assert Provenance.objects.filter(organization=org).first().detail == "Enhetsregisteret (enhetsregisteret.json)"
    assert AuditEntry.objects.filter(action="register_import").count() == 1


def test_importing_again_changes_nothing(now, system_actor):
    run(FIXTURE, now, system_actor)
    provenance = Provenance.objects.count()
    summary = run(FIXTURE, now, system_actor)
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 0, 9)
    assert Provenance.objects.count() == provenance


def test_a_known_organisation_is_enriched_never_blanked(now, system_actor, tmp_path):
    mine = people.create_organization(
        actor=system_actor,
        now=now,
        source="form",
        values={"name": "Fjordlys", "org_number": "100000008", "street": "Old street 1", "city": "SANDEFJORD"},
    )
    rows = entities()[:1]
    rows[0]["forretningsadresse"]["adresse"] = ["Testveien 2"]
    del rows[0]["forretningsadresse"]["poststed"]
    summary = run(write(tmp_path, rows), now, system_actor)
    assert (summary.inserted, summary.updated) == (0, 1)
    mine.refresh_from_db()
    assert (mine.name, mine.street, mine.city) == ("Fjordlys Demo AS", "Testveien 2", "SANDEFJORD")
    changed = set(
        Provenance.objects.filter(organization=mine, source="public_register").values_list("field", flat=True)
    )
    assert changed == {"name", "street", "industry_code", "postcode", "organisation_form"}


def test_gzip_is_read_as_downloaded(now, system_actor, tmp_path):
    path = tmp_path / "enheter_alle.json.gz"
    path.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    assert run(path, now, system_actor).inserted == 9


def test_batches_are_transactions_of_the_given_size(now, system_actor):
    summary = run(FIXTURE, now, system_actor, batch_size=3)
    assert summary.batches == 3
    assert AuditEntry.objects.filter(action="register_import").count() == 3


def test_bad_rows_are_reported_and_never_stop_the_good_ones(now, system_actor, tmp_path):
    good = entities()
    bad_checksum = dict(good[0], organisasjonsnummer="100000009")
    no_name = {"organisasjonsnummer": "100000083"}
    bad_code = dict(good[1], organisasjonsnummer="100000091", naeringskode1={"kode": "DROP TABLE"})
    not_object = ["a list"]
    bad_country = dict(good[2], organisasjonsnummer="100000105")
    bad_country["forretningsadresse"] = dict(good[2]["forretningsadresse"], landkode="Norway")
    rows = [good[0], bad_checksum, no_name, good[1], bad_code, not_object, bad_country, good[2]]
    summary = run(write(tmp_path, rows), now, system_actor)
    assert summary.inserted == 3
    assert [(e.row, e.field) for e in summary.errors] == [
        (2, "organisasjonsnummer"),
        (3, "navn"),
        (5, "naeringskode1.kode"),
        (6, "entity"),
        (7, "forretningsadresse.landkode"),
    ]
    assert all("100000" not in e.message for e in summary.errors), "values are never echoed"


def test_malformed_json_inside_the_array_skips_to_the_next_entity(now, system_actor, tmp_path):
    one, _, three = (json.dumps(e, ensure_ascii=False) for e in entities()[:3])
    raw = f'[{one},{{"organisasjonsnummer": "100000016", "navn": "Broken}},{three}]'
    summary = run(write(tmp_path, None, raw=raw), now, system_actor)
    assert summary.inserted == 2
    assert summary.errors[0].field == "entity"
    assert "not valid JSON" in summary.errors[0].message
    assert not Organization.objects.filter(org_number="100000016").exists()


def test_a_file_cut_short_imports_what_is_complete_and_says_so(now, system_actor, tmp_path):
    text = json.dumps(entities(), ensure_ascii=False)
    cut = text[: text.index('"organisasjonsnummer": "100000075"') - 3]
    summary = run(write(tmp_path, None, raw=cut), now, system_actor)
    assert summary.inserted == 7
    assert "cut short" in summary.errors[-1].message


def test_the_register_of_roles_is_never_imported(now, system_actor, tmp_path):
    roles = [
        {
            "organisasjonsnummer": "100000008",
            "rollegrupper": [
                {"type": {"kode": "STYR"}, "roller": [{"person": {"navn": {"fornavn": "Kari", "etternavn": "Test"}}}]}
            ],
        }
    ]
    with pytest.raises(register.ValidationError, match="register of roles"):
        run(write(tmp_path, roles), now, system_actor)
    with pytest.raises(register.ValidationError, match="register of roles"):
        run(write(tmp_path, entities(), name="roller_totalbestand.json"), now, system_actor)
    assert Organization.objects.count() == 0


def test_a_row_carrying_roles_is_rejected(now, system_actor, tmp_path):
    rows = entities()[:2]
    rows[1]["rollegrupper"] = [{"roller": []}]
    summary = run(write(tmp_path, rows), now, system_actor)
    assert summary.inserted == 1
    assert "never imported" in summary.errors[0].message


@pytest.mark.parametrize("raw", ['{"organisasjonsnummer": "100000008"}', "", "not json"])
def test_a_file_that_is_not_the_bulk_format_is_refused(now, system_actor, tmp_path, raw):
    with pytest.raises(register.ValidationError, match="JSON array"):
        run(write(tmp_path, None, raw=raw), now, system_actor)


def test_the_streaming_parser_holds_one_chunk_and_finds_elements_across_chunks():
    text = json.dumps([{"a": i, "s": "x" * 50} for i in range(1000)] + [1.5, 25, None, True])
    values = list(register.iter_json_array(io.StringIO(text), chunk_chars=7))
    assert values[:2] == [{"a": 0, "s": "x" * 50}, {"a": 1, "s": "x" * 50}]
    assert values[-4:] == [1.5, 25, None, True]
    assert len(values) == 1004


def test_the_command_prints_errors_and_a_summary_and_writes_the_report(now, tmp_path):
    rows = [*entities()[:2], {"organisasjonsnummer": "123"}]
    report = tmp_path / "errors.csv"
    out = io.StringIO()
    call_command("register", "import", str(write(tmp_path, rows)), "--errors", str(report), stdout=out)
    text = out.getvalue()
    assert "row 3: organisasjonsnummer: an organisation number has nine digits" in text
    assert "Read 3 entities" in text
    assert "2 new organisations" in text
    assert "1 rejected" in text
    assert report.read_text().splitlines() == [
        "row,field,reason",
        "3,organisasjonsnummer,an organisation number has nine digits",
    ]


def test_the_command_refuses_a_missing_file_in_one_line(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("register", "import", str(tmp_path / "missing.json"))


def test_the_console_script_exits_non_zero_on_the_register_of_roles(tmp_path, tillit_env):
    path = write(tmp_path, [{"organisasjonsnummer": "100000008", "rollegrupper": []}])
    result = subprocess.run(
        [sys.executable, "-m", "tillit.cli.main", "register", "import", str(path)],
        capture_output=True,
        text=True,
        env=tillit_env,
        check=False,
    )
    assert result.returncode == 1
    assert "register of roles" in result.stderr


def test_an_organisation_from_the_register_credits_its_licence(now, system_actor, staff_client):
    run(FIXTURE, now, system_actor)
    imported = Organization.objects.get(org_number="100000016")
    typed = people.create_organization(actor=system_actor, now=now, source="form", values={"name": "Egen Kunde AS"})
    client = staff_client("sales")
    page = client.get(f"/organizations/{imported.pk}/").content.decode()
    assert "Norwegian licence for Open Government data (NLOD)" in page
    assert "Brønnøysund Register Centre" in page
    assert "NLOD" not in client.get(f"/organizations/{typed.pk}/").content.decode()
