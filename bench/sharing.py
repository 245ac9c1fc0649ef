"""Benchmark of sharing on the demo data set (PostgreSQL): ``tillit verify`` and ``disclose``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tillit_bench .venv/bin/python bench/sharing.py

The database named in DATABASE_URL must hold the demo data (``tillit demo --people 1000000``).
It is only read: the benchmark copies it (CREATE DATABASE ... TEMPLATE), migrates the copy and
works there, then drops it. It prints:

- ``tillit verify`` over everyone (every check; the command as an operator runs it, in its own
  process): wall time and the process's peak memory (target: under 30 s, bounded memory);
- the past-deadline check (the one that reads every interaction) as hand-written SQL, and the
  ratio of the whole verifier to it;
- ``disclose`` of 1,000 people to a partner (ledger, audit, the CSV built from the live
  records): median and p99 of 7 runs (target: under 1 s).
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
sys.path.insert(0, str(ROOT / "bench"))

from retention import copy_database, drop_database, in_django, url_for  # noqa: E402

HAND_WRITTEN_PAST_DEADLINE = """
SELECT count(*) FROM people_person p
LEFT JOIN (SELECT person_id, MAX(occurred_at) AS last_contact FROM people_interaction
  WHERE (direction = 'inbound' AND kind IN ('form','download','email','call','chat','order','event'))
     OR (direction = 'outbound' AND reached AND kind = 'call') GROUP BY person_id) c ON c.person_id = p.id
LEFT JOIN (SELECT person_id, SUM(CASE WHEN unsubscribed_at IS NULL THEN 1 ELSE 0 END) AS open,
  MAX(unsubscribed_at) AS last_left FROM consent_subscription GROUP BY person_id) s ON s.person_id = p.id
LEFT JOIN (SELECT person_id, SUM(CASE WHEN ended_at IS NULL THEN 1 ELSE 0 END) AS open,
  MAX(ended_at) AS last_end FROM people_customerrelationship GROUP BY person_id) r ON r.person_id = p.id
WHERE p.created_at <= %(cut)s AND (c.last_contact IS NULL OR c.last_contact <= %(cut)s)
  AND COALESCE(s.open, 0) = 0 AND (s.last_left IS NULL OR s.last_left <= %(cut)s)
  AND COALESCE(r.open, 0) = 0 AND (r.last_end IS NULL OR r.last_end <= %(cut)s)
"""

DISCLOSE = """
import datetime as dt, time
from tillit.core.actors import Actor
from tillit.people.models import Person
from tillit.sharing import services
now = dt.datetime.fromisoformat({now!r})
actor = Actor(kind="staff", role="sales", user_id=None, label="bench:sales")
officer = Actor(kind="staff", role="privacy_officer", user_id=None, label="bench:officer")
partner = services.register_partner(actor=officer, now=now, values={{
    "key": "bench-partner", "name": "Bench Partner AS", "contact_email": "privacy@bench.example.com",
    "agreement_reference": "DPA-BENCH", "agreement_dated": "2026-01-15"}})
times = []
for run in range({runs}):
    ids = list(Person.objects.filter(pk__gt=run * 5000).order_by("pk").values_list("pk", flat=True)[:1000])
    dialogue = services.open_dialogue(actor=actor, now=now, partner_id=partner.pk, kind="sales", title=f"Bench {{run}}")
    services.add_to_dialogue(actor=actor, now=now, dialogue_id=dialogue.pk, person_ids=ids)
    started = time.perf_counter()
    result = services.disclose(actor=actor, now=now, dialogue_id=dialogue.pk,
                               categories=["name", "email", "phone", "organisation"], channel="csv")
    times.append(time.perf_counter() - started)
    assert result.disclosure.people == 1000, result.disclosure.people
times.sort()
print(times[len(times) // 2], times[-1], len(result.content))
"""


def run_verify(url: str) -> tuple[float, float, str]:
    """``tillit verify`` in its own process: (seconds, peak RSS in MB of that process, last line)."""
    env = {**os.environ, "DATABASE_URL": url}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "tillit"), "verify", "--quiet", "--no-record"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(result.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    del before
    lines = result.stdout.strip().splitlines()
    return elapsed, peak / 1024, "; ".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="Disclosures of 1,000 people to time (default 7).")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("bench/sharing.py: DATABASE_URL must name a PostgreSQL database holding the demo data")
    source = config["NAME"]
    with psycopg.connect(url) as conn:
        (people,) = conn.execute("SELECT count(*) FROM people_person").fetchone()
        (interactions,) = conn.execute("SELECT count(*) FROM people_interaction").fetchone()
    now = dt.datetime.now(dt.UTC)
    print(f"data: {people:,} people, {interactions:,} interactions (source {source}, only read)")
    copy = f"{source}_sharing"
    print(f"copying the database ({copy_database(config, source, copy):.1f} s)", flush=True)
    try:
        target = url_for(config, copy)
        migrate = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "tillit"), "migrate", "--noinput"],
            env={**os.environ, "DATABASE_URL": target},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if migrate.returncode != 0:
            raise SystemExit(migrate.stderr)
        # Warm the cache once (as a daily run finds it), then time three runs.
        run_verify(target)
        runs = [run_verify(target) for _ in range(3)]
        runs.sort()
        elapsed, peak, summary = runs[1]
        print(f"tillit verify: {elapsed:.1f} s (median of 3), peak memory {peak:.0f} MB (target < 30 s) -> {summary}")

        cut = now - dt.timedelta(days=730) + dt.timedelta(days=2)
        with psycopg.connect(target) as conn:
            times = []
            for _ in range(3):
                started = time.perf_counter()
                (n,) = conn.execute(HAND_WRITTEN_PAST_DEADLINE, {"cut": cut}).fetchone()
                times.append(time.perf_counter() - started)
        hand = sorted(times)[1]
        print(f"past-deadline check as hand-written SQL: {hand:.1f} s ({n:,} candidates)")
        print(f"ratio: the whole verifier takes {elapsed / hand:.1f}x the hand-written past-deadline query")

        median, worst, size = in_django(target, DISCLOSE.format(now=now.isoformat(), runs=args.runs)).split()
        print(
            f"disclose 1,000 people (ledger + audit + CSV): median {float(median) * 1000:.0f} ms, "
            f"p99 {float(worst) * 1000:.0f} ms over {args.runs} runs, {int(size):,} bytes (target < 1 s)"
        )
    finally:
        drop_database(config, copy)
    print(f"(bench process peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
