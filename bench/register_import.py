"""Benchmark of the public register import (policy §6) on PostgreSQL.

    .venv/bin/python bench/register_import.py [--entities 1000000] [--gzip]

Generates a bulk file of N fictional entities in the format of Enhetsregisteret's download
(``/enhetsregisteret/api/enheter/lastned``: one JSON array, every field the register gives)
under /tmp, creates its own database ``tillit_register_bench`` (dropped and migrated afresh;
never the shared ``tillit_bench``), and prints:

- ``tillit register import``'s service (streaming parse, validation with check digits,
  batched INSERT ... ON CONFLICT, provenance per field, audit per batch): entities/s and the
  process's peak memory;
- the same import again (every entity unchanged): entities/s;
- a hand-written baseline on a copy of the empty database: the same file parsed with the same
  streaming parser but no validation, COPY into a staging table, one INSERT ... ON CONFLICT
  into organisations and one INSERT ... SELECT of the provenance (one row per organisation, as
  tillit writes for a new one), all in one transaction; and the ratio.

Target: at least 20,000 entities per second.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = "tillit_register_bench"
BASELINE = "tillit_register_bench_sql"
SERVER = "postgres://postgres@127.0.0.1:5432"

NACE = [
    ("62.010", "Programmeringstjenester"),
    ("70.220", "Bedriftsrådgivning og annen administrativ rådgivning"),
    ("41.200", "Oppføring av bygninger"),
    ("68.209", "Utleie av egen eller leid fast eiendom ellers"),
    ("47.190", "Butikkhandel med bredt vareutvalg ellers"),
    ("69.201", "Regnskap og bokføring"),
    ("43.210", "Elektrisk installasjonsarbeid"),
    ("86.211", "Allmenn legetjeneste"),
]
PLACES = [
    ("0150", "OSLO", "0301"),
    ("5003", "BERGEN", "4601"),
    ("7011", "TRONDHEIM", "5001"),
    ("3239", "SANDEFJORD", "3907"),
]
FORMS = [
    ("AS", "Aksjeselskap"),
    ("ENK", "Enkeltpersonforetak"),
    ("FLI", "Forening/lag/innretning"),
    ("ASA", "Allmennaksjeselskap"),
]


def fictional_numbers(n: int):  # type: ignore[no-untyped-def]
    """Organisation numbers with valid check digits starting with 1 (never assigned)."""
    from stdnum.no import orgnr

    weights = (3, 2, 7, 6, 5, 4, 3, 2)
    base = 10_000_000
    made = 0
    while made < n:
        digits = str(base)
        base += 1
        check = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
        if check == 10:
            continue
        number = digits + str(0 if check == 11 else check)
        assert len(number) == 9
        if made < 5:
            assert orgnr.is_valid(number)
        made += 1
        yield number


def generate(path: Path, n: int, *, compress: bool) -> float:
    """Write N entities in the register's bulk format; returns seconds."""
    started = time.perf_counter()
    rng = random.Random(42)
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8") as out:  # type: ignore[operator]
        out.write("[")
        for i, number in enumerate(fictional_numbers(n)):
            form = FORMS[i % len(FORMS)]
            postcode, city, municipality = PLACES[i % len(PLACES)]
            entity = {
                "organisasjonsnummer": number,
                "navn": f"Benchmark Eksempel {i} {form[0]}",
                "organisasjonsform": {
                    "kode": form[0],
                    "beskrivelse": form[1],
                    "_links": {
                        "self": {"href": f"https://data.brreg.no/enhetsregisteret/api/organisasjonsformer/{form[0]}"}
                    },
                },
                "registreringsdatoEnhetsregisteret": "2015-03-02",
                "registrertIMvaregisteret": i % 3 == 0,
                "antallAnsatte": rng.randint(0, 500),
                "harRegistrertAntallAnsatte": True,
                "forretningsadresse": {
                    "land": "Norge",
                    "landkode": "NO",
                    "postnummer": postcode,
                    "poststed": city,
                    "adresse": [f"Testveien {i % 997 + 1}"],
                    "kommune": city,
                    "kommunenummer": municipality,
                },
                "institusjonellSektorkode": {"kode": "2100", "beskrivelse": "Private aksjeselskaper mv."},
                "registrertIForetaksregisteret": True,
                "registrertIStiftelsesregisteret": False,
                "registrertIFrivillighetsregisteret": False,
                "konkurs": False,
                "underAvvikling": False,
                "underTvangsavviklingEllerTvangsopplosning": False,
                "maalform": "Bokmål",
                "_links": {"self": {"href": f"https://data.brreg.no/enhetsregisteret/api/enheter/{number}"}},
            }
            if i % 10:
                code = NACE[i % len(NACE)]
                entity["naeringskode1"] = {"kode": code[0], "beskrivelse": code[1]}
            if i:
                out.write(",")
            out.write(json.dumps(entity, ensure_ascii=False, separators=(",", ":")))
        out.write("]")
    return time.perf_counter() - started


def admin() -> psycopg.Connection:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True)


def recreate(name: str, template: str | None = None) -> None:
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    for app in ("people", "audit", "capture"):
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", app, "--verbosity", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(result.stderr)


LEAN_INDEXES = (
    "DROP INDEX people_provenance_organization_id_5db7e25d",
    "DROP INDEX people_provenance_person_id_196f8ac6",
    "DROP INDEX people_prov_person_idx",
    "CREATE INDEX people_prov_person_idx ON people_provenance (person_id, field) WHERE person_id IS NOT NULL",
)

IMPORT = """
import datetime as dt, resource, time
from pathlib import Path
from django.utils import timezone
from tillit.capture import register
from tillit.core.actors import Actor
started = time.perf_counter()
summary = register.import_entities(
    actor=Actor.system("bench"), now=timezone.now(), path=Path({path!r}), batch_size={batch}
)
elapsed = time.perf_counter() - started
print(elapsed, summary.read, summary.inserted, summary.updated, summary.unchanged, summary.rejected,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run_tillit(url: str, path: Path, batch: int) -> list[float]:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    code = "import django; django.setup()\n" + IMPORT.format(path=str(path), batch=batch)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return [float(x) for x in result.stdout.split()]


def hand_written(url: str, path: Path) -> tuple[float, int]:
    """The baseline: parse with the same streaming parser, no validation; COPY to a staging
    table; one upsert; one provenance insert; one transaction."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from tillit.capture.register import iter_json_array, open_register_file

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(
            "CREATE TEMP TABLE staging (org_number text, name text, industry_code text, street text, "
            "postcode text, city text, country text) ON COMMIT DROP"
        )
        n = 0
        text, _counter, _size = open_register_file(path)
        with text, conn.cursor() as cursor, cursor.copy("COPY staging FROM STDIN") as copy:
            for e in iter_json_array(text):
                a = e.get("forretningsadresse") or {}
                copy.write_row(
                    (
                        e["organisasjonsnummer"],
                        e["navn"],
                        (e.get("naeringskode1") or {}).get("kode", ""),
                        ", ".join(a.get("adresse") or []),
                        a.get("postnummer", ""),
                        a.get("poststed", ""),
                        a.get("landkode", "NO"),
                    )
                )
                n += 1
        conn.execute(
            "CREATE TEMP TABLE written ON COMMIT DROP AS WITH up AS ("
            "INSERT INTO people_organization (org_number, name, industry_code, industry_code_version, street, "
            "postcode, city, country, created_at, updated_at) "
            "SELECT org_number, name, industry_code, CASE WHEN industry_code = '' THEN '' ELSE 'SN2007' END, "
            "street, postcode, city, country, now(), now() FROM staging "
            "ON CONFLICT (org_number) DO UPDATE SET name = excluded.name, industry_code = excluded.industry_code, "
            "street = excluded.street, postcode = excluded.postcode, city = excluded.city, "
            "country = excluded.country, updated_at = excluded.updated_at RETURNING id) SELECT id FROM up"
        )
        conn.execute(  # as tillit: one row covering every field of a new organisation
            "INSERT INTO people_provenance (organization_id, field, source, detail, recorded_at) "
            "SELECT id, '*', 'public_register', 'Enhetsregisteret', now() FROM written"
        )
    return time.perf_counter() - started, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--gzip", action="store_true", help="Generate and import the .json.gz form.")
    parser.add_argument(
        "--lean-indexes",
        action="store_true",
        help="Experiment: drop people_provenance's two single-column foreign-key indexes (covered by the "
        "(person, field) and (organization, field) indexes) and make the person index partial first.",
    )
    args = parser.parse_args()
    path = Path(f"/tmp/enheter_bench_{args.entities}.json" + (".gz" if args.gzip else ""))
    if not path.exists():
        seconds = generate(path, args.entities, compress=args.gzip)
        print(f"generated {args.entities:,} entities in {seconds:.1f} s: {path} ({path.stat().st_size / 1e6:,.0f} MB)")
    else:
        print(f"using {path} ({path.stat().st_size / 1e6:,.0f} MB)")

    url = f"{SERVER}/{DATABASE}"
    recreate(DATABASE)
    migrate(url)
    if args.lean_indexes:
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in LEAN_INDEXES:
                conn.execute(statement)
        print("experiment: lean provenance indexes")
    recreate(BASELINE, template=DATABASE)
    try:
        elapsed, read, inserted, _updated, _unchanged, rejected, peak_kb = run_tillit(url, path, args.batch)
        print(
            f"tillit register import: {int(read):,} entities in {elapsed:.1f} s ({read / elapsed:,.0f} entities/s; "
            f"target >= 20,000), {int(inserted):,} new, {int(rejected):,} rejected, "
            f"peak memory {peak_kb / 1024:.0f} MB"
        )
        again = run_tillit(url, path, args.batch)
        print(
            f"tillit register import again (all unchanged): {int(again[1]):,} entities in {again[0]:.1f} s "
            f"({again[1] / again[0]:,.0f} entities/s), {int(again[4]):,} unchanged"
        )
        with psycopg.connect(url) as conn:
            (provenance,) = conn.execute("SELECT count(*) FROM people_provenance").fetchone()
        hand, n = hand_written(f"{SERVER}/{BASELINE}", path)
        with psycopg.connect(f"{SERVER}/{BASELINE}") as conn:
            (hand_provenance,) = conn.execute("SELECT count(*) FROM people_provenance").fetchone()
        print(f"provenance rows: tillit {provenance:,}, hand-written {hand_provenance:,}")
        print(
            f"hand-written SQL (COPY + INSERT ... ON CONFLICT, no validation, no audit): {n:,} entities in "
            f"{hand:.1f} s ({n / hand:,.0f} entities/s)"
        )
        print(f"ratio: tillit runs at {hand / elapsed:.2f}x the speed of hand-written SQL")
    finally:
        with admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BASELINE}"')
    print(f"(bench process peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
