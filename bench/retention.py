"""Benchmark of retention on the demo data set (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tillit_bench .venv/bin/python bench/retention.py

The database named in DATABASE_URL must hold the demo data (``tillit demo --people 1000000``).
It is used as a template: the benchmark copies it twice (CREATE DATABASE ... TEMPLATE), runs
tillit's sweep on one copy and the same deletes written by hand as set-based SQL on the other,
at a moment chosen so that about 25% of the people are past their deadline, and prints:

- the sweep (receipts, notices and audit entries included) vs hand-written SQL, and the ratio;
- the sweep's peak memory;
- ``sweep --dry-run`` over everyone;
- ``erase_person`` for one person (median and p99 of 200).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import dj_database_url
import psycopg

ROOT = Path(__file__).resolve().parent.parent


def admin_connection(config: dict) -> psycopg.Connection:
    return psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        dbname="postgres",
        autocommit=True,
    )


def copy_database(config: dict, source: str, target: str) -> float:
    started = time.perf_counter()
    with admin_connection(config) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}"')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    return time.perf_counter() - started


def drop_database(config: dict, name: str) -> None:
    with admin_connection(config) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def url_for(config: dict, name: str) -> str:
    return f"postgres://{config['USER'] or 'postgres'}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{name}"


def hand_written_sweep(url: str, now: dt.datetime) -> tuple[float, int]:
    """The same erasure as set-based SQL in one transaction: the baseline. The connection is in
    autocommit mode so that ``conn.transaction()`` is a real BEGIN ... COMMIT and the timing
    includes the commit (where PostgreSQL runs the deferred foreign-key checks), as tillit's does."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            """SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc
               JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name
               JOIN information_schema.constraint_column_usage ccu ON tc.constraint_name = ccu.constraint_name
               WHERE tc.constraint_type = 'FOREIGN KEY' AND ccu.table_name = 'people_person'"""
        ).fetchall()
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(
                "CREATE TEMP TABLE doomed ON COMMIT DROP AS SELECT id FROM people_person WHERE retain_until <= %s",
                [now],
            )
            (n,) = conn.execute("SELECT count(*) FROM doomed").fetchone()
            # The database deletes a consent ledger entry only after its removal mark is written
            # (tillit.audit.ledgers); tillit computes each keyed mark in Python, the baseline only
            # writes the rows.
            conn.execute(
                "INSERT INTO audit_ledgerremoval (ledger, entry_id, scope, reason, removed_at, mark) "
                "SELECT 'consent', id, person_id::text, 'erasure:sweep', %s, '' FROM consent_consentevent "
                "WHERE person_id IN (SELECT id FROM doomed)",
                [now],
            )
            for table, column in tables:
                conn.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT id FROM doomed)")
            conn.execute("DELETE FROM people_person WHERE id IN (SELECT id FROM doomed)")
        return time.perf_counter() - started, n


def in_django(url: str, code: str) -> str:
    """Run ``code`` in a fresh process with Django set up against ``url``; return its stdout."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    prelude = "import django; django.setup()\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + code], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return result.stdout


SWEEP = """
import datetime as dt, resource, time
from tillit.core.actors import Actor
from tillit.retention import services
now = dt.datetime.fromisoformat({now!r})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
summary = services.sweep(actor=Actor.system("bench"), now=now, batch_size={batch})
elapsed = time.perf_counter() - started
print(elapsed, summary.erased, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, before)
"""

DRY_RUN = """
import datetime as dt, time
from tillit.retention import selectors
now = dt.datetime.fromisoformat({now!r})
times = []
for _ in range(5):
    started = time.perf_counter()
    preview = selectors.sweep_preview(now=now)
    times.append(time.perf_counter() - started)
print(sorted(times)[2], sum(preview.values()))
"""

ERASE_ONE = """
import datetime as dt, time
from tillit.core.actors import Actor
from tillit.people.models import Person
from tillit.retention import services
now = dt.datetime.fromisoformat({now!r})
ids = list(Person.objects.order_by("?").values_list("pk", flat=True)[:200])
times = []
for pid in ids:
    started = time.perf_counter()
    services.erase_person(actor=Actor.system("bench"), now=now, person_id=pid, reason="request")
    times.append(time.perf_counter() - started)
times.sort()
print(times[len(times) // 2], times[int(len(times) * 0.99) - 1], len(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--due", type=float, default=0.25, help="Share of people past their deadline (default 0.25).")
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("bench/retention.py: DATABASE_URL must name a PostgreSQL database holding the demo data")
    source = config["NAME"]
    with psycopg.connect(url) as conn:
        (people,) = conn.execute("SELECT count(*) FROM people_person").fetchone()
        (interactions,) = conn.execute("SELECT count(*) FROM people_interaction").fetchone()
        (now,) = conn.execute(
            "SELECT percentile_disc(%s) WITHIN GROUP (ORDER BY retain_until) FROM people_person "
            "WHERE retain_until IS NOT NULL",
            [args.due * people / max(1, conn.execute("SELECT count(retain_until) FROM people_person").fetchone()[0])],
        ).fetchone()
    if now is None:
        raise SystemExit("bench/retention.py: nobody has a deadline; run `tillit demo` (it computes them)")
    now = now + dt.timedelta(seconds=1)
    print(f"data: {people:,} people, {interactions:,} interactions; sweep at {now.isoformat()} (~{args.due:.0%} due)")

    a, b = f"{source}_sweep_a", f"{source}_sweep_b"
    print(f"copying the database twice ({copy_database(config, source, a):.1f} s, ", end="", flush=True)
    print(f"{copy_database(config, source, b):.1f} s)")
    try:
        dry, due = in_django(url_for(config, a), DRY_RUN.format(now=now.isoformat())).split()
        print(f"sweep --dry-run over {people:,} people: {float(dry):.2f} s (median of 5), {int(due):,} due")

        elapsed, erased, peak_kb, _start_kb = in_django(
            url_for(config, a), SWEEP.format(now=now.isoformat(), batch=args.batch)
        ).split()
        hand, hand_n = hand_written_sweep(url_for(config, b), now)
        ours = float(elapsed)
        print(
            f"sweep (tillit, receipts + notices + audit): {int(erased):,} people in {ours:.1f} s "
            f"({int(erased) / ours:,.0f} people/s), peak memory {int(peak_kb) / 1024:.0f} MB"
        )
        print(
            f"sweep (hand-written set-based SQL, no receipts): {hand_n:,} people in {hand:.1f} s "
            f"({hand_n / hand:,.0f} people/s)"
        )
        print(f"ratio: tillit runs at {hand / ours:.2f}x the speed of hand-written SQL (target >= 0.5)")

        median, p99, n = in_django(url_for(config, a), ERASE_ONE.format(now=now.isoformat())).split()
        print(f"erase_person: median {float(median) * 1000:.1f} ms, p99 {float(p99) * 1000:.1f} ms over {n} people")
    finally:
        drop_database(config, a)
        drop_database(config, b)
    print(f"(bench process peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
