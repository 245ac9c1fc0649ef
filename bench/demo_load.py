"""How fast ``tillit demo`` loads PostgreSQL: N people (default 1,000,000) through COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tillit_bench .venv/bin/tillit migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tillit_bench .venv/bin/python bench/demo_load.py --reset

Prints one line: "demo: 1,000,000 people / 5,000,000 interactions in X s (Y people/s)". With
``--reset`` the people tables (and every table that refers to them) are emptied first, so the
figure is for a fresh database; without it the people are added to what is there. The target
is under five minutes for a million people on a two-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--chunk-size", type=int, default=25_000)
    parser.add_argument("--reset", action="store_true", help="empty the people tables first")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.db import connection

    from tillit.people import demo

    if connection.vendor != "postgresql":
        print("bench/demo_load.py measures PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    if args.reset:
        tables = ", ".join(connection.ops.quote_name(table.db_table) for table in demo.TABLES)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} CASCADE")
        print(f"reset: emptied {tables} (and the tables that refer to them)")
    elif demo.people_count():
        print(f"note: adding to {demo.people_count():,} existing people (use --reset for a fresh database)")

    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if not args.quiet and done:
            elapsed = time.perf_counter() - started
            print(f"  {done:>10,} / {total:,} people  {elapsed:7.1f} s", flush=True)

    summary = demo.generate_demo(
        people=args.people,
        seed=args.seed,
        now=dt.datetime.now(dt.UTC),
        progress=progress,
        chunk_size=args.chunk_size,
    )
    seconds = time.perf_counter() - started
    print(
        f"demo: {summary.people:,} people / {summary.interactions:,} interactions in {seconds:.1f} s "
        f"({summary.people / seconds:,.0f} people/s)"
    )
    print(
        f"      {summary.organizations:,} organisations, {summary.product_interests:,} product interests, "
        f"{summary.customer_relationships:,} customer relationships, {summary.provenance:,} provenance rows"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
