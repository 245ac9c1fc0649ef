"""Load benchmark of form submissions through the real HTTP stack (issue 7, "Capture").

    .venv/bin/python bench/capture_forms.py [--seconds 60] [--processes 2] [--threads 8]

What it does, all on 127.0.0.1:
1. (Re)creates its own PostgreSQL database ``tillit_loadtest`` (``--database-url`` to change;
   never the shared ``tillit_bench``), migrates it, publishes the privacy notice and defines
   one form (name, email, a free-text message and a newsletter consent box).
2. Serves the app with gunicorn (``config.wsgi``, 2 workers, DEBUG off), gthread workers with
   ``--server-threads`` threads each (default 8; ``--server-threads 1``: sync workers), with
   ``TILLIT_FORM_INTAKE=queued`` (the production default) and the form rate limit switched off
   (``TILLIT_FORM_RATE_PER_MINUTE=0``: every request comes from one address here). A request
   validates everything and writes one intake row (one INSERT, committed before the answer).
3. Runs ``tillit capture drain`` (``--drains`` processes, ``--drain-nice`` lower priority) during
   and after the load: it applies the queued submissions in batches, each submission a full
   write (person, provenance, form interaction (retention clock), the answers, a consent ledger
   entry and the audit entries, one chain lock per batch) and deletes the applied intake rows.
4. Drives JSON submissions (``POST /forms/<id>/submissions``) for ``--seconds`` from
   ``--processes`` x ``--threads`` clients with ``http.client``; each submission is a new
   fictional person (``bench-...@example.com``) who ticks the consent box.
5. After the run waits until the intake is empty, then prints sustained submissions per second,
   p50/p99 latency at the client and in the app (Server-Timing), errors, the drain's rate and
   the backlog it had to catch up, and counts the rows stored (people, submissions, consent
   entries, form interactions) against the 201s received: they must be EQUAL, with nothing
   pending or rejected in the intake.

Targets (issue 7): >= 500 submissions/s for 60 s, p99 < 100 ms, zero errors, every accepted
submission stored. The server, the database, the drain and the load generator share the
machine's cores (2 here, shared with other work: the load average is printed).

What bounds it: the request path is one durable INSERT (one WAL flush; gthread workers let
concurrent requests share a flush: PostgreSQL's group commit) plus Django's request handling
and the validation (email and phone syntax). Applying a submission costs about ten times the
request's CPU; the drain does it in batches (one transaction, one audit chain lock and one flush
per batch), so it runs behind the load and catches up afterwards: the intake is the buffer.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tillit_loadtest"
DRAIN_APP = "tillit-capture-drain"  # the drains' application_name in PostgreSQL (PGAPPNAME)

SETUP = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.utils import timezone
from tillit.capture import services
from tillit.core.actors import Actor
form = services.create_form(
    actor=Actor.system("bench"), now=timezone.now(), name="Newsletter sign-up (load test)", language="en",
    fields=[{"name": "name"}, {"name": "email"}, {"name": "message"}],
    consents=[{"purpose": "newsletter", "channel": "email"}],
)
print(form.public_id)
"""

COUNT = """
import django, os, json
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from tillit.capture import selectors
from tillit.capture.models import FormSubmission
from tillit.consent.models import ConsentEvent
from tillit.people.models import Interaction, Person
print(json.dumps({
    "people": Person.objects.filter(email__startswith="bench-").count(),
    "submissions": FormSubmission.objects.count(),
    "consents": ConsentEvent.objects.count(),
    "interactions": Interaction.objects.filter(kind="form").count(),
    **selectors.intake_counts(),
}))
"""

# After the run (not counted above): one request in-process through the whole middleware stack,
# its SQL statements and time; then the drain applying those submissions, per submission.
PROFILE = """
import django, os, json, statistics, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from tillit.capture import services
from tillit.capture.models import Form
form = Form.objects.get()
client = Client(HTTP_HOST="127.0.0.1")
url = f"/forms/{form.public_id}/submissions"
times, statements = [], []
for i in range(200):
    body = json.dumps({"name": "Profile Person", "email": f"profile-{i}@example.com",
                       "message": "Please send me your newsletter about boats.", "consent_newsletter_email": True})
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.post(url, body, content_type="application/json")
        times.append((time.perf_counter() - started) * 1000)
    assert response.status_code == 201, response.content
    statements.append(len(queries.captured_queries))
with CaptureQueriesContext(connection) as queries:
    started = time.perf_counter()
    applied = services.process_intake(actor=services.SUBMITTER, now=timezone.now(), limit=500)
    drain_ms = (time.perf_counter() - started) * 1000
print(json.dumps({
    "statements": statistics.median(statements[20:]),
    "median_ms": statistics.median(times[20:]),
    "drain_per_row_ms": drain_ms / max(applied, 1),
    "drain_statements_per_row": len(queries.captured_queries) / max(applied, 1),
    "applied": applied,
}))
"""


def environment(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "TILLIT_DEBUG": "false",
        "TILLIT_SECRET_KEY": "load-test-only-" + "x" * 40,
        "TILLIT_SSL_REDIRECT": "false",
        "TILLIT_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TILLIT_FORM_RATE_PER_MINUTE": "0",
        "TILLIT_PUBLIC_RATE_PER_MINUTE": "0",
        "TILLIT_FORM_INTAKE": "queued",
        "TILLIT_LOG_LEVEL": "ERROR",
    }


def prepare(database_url: str) -> str:
    """A fresh database with the schema, a published notice and one form; returns its id."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if name in ("tillit_bench", "tillit", "postgres"):
        sys.exit(f"capture_forms: refusing to recreate the shared database {name!r}")
    admin = parts._replace(path="/postgres").geturl()
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = environment(database_url)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PYTHON, "manage.py", "notice", "publish"], cwd=ROOT, env=env, check=True, capture_output=True)
    out = subprocess.run([PYTHON, "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(database_url: str, port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
    command = [GUNICORN, "config.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
    if threads > 1:  # gthread workers: concurrent transactions share the WAL flush (group commit)
        command += ["--worker-class", "gthread", "--threads", str(threads)]
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment(database_url),
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("capture_forms: gunicorn did not start")


def client_process(
    port: int, form_id: str, threads: int, start_at: float, stop_at: float, tag: str, queue: multiprocessing.Queue
) -> None:
    """Submit until ``stop_at`` from ``threads`` threads; put (latencies, ok, errors, per-second)."""
    path = f"/forms/{form_id}/submissions"
    results: list[tuple[list[float], int, dict[str, int], dict[int, int], list[float]]] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies: list[float] = []
        ok = 0
        errors: dict[str, int] = {}
        per_second: dict[int, int] = {}
        server: list[float] = []
        i = 0
        while time.time() < start_at:
            time.sleep(0.001)
        while (now := time.time()) < stop_at:
            i += 1
            body = json.dumps(
                {
                    "name": f"Bench Person {tag}-{n}-{i}",
                    "email": f"bench-{tag}-{n}-{i}@example.com",
                    "message": "Please send me your newsletter about boats.",
                    "consent_newsletter_email": True,
                }
            )
            started = time.perf_counter()
            timing = ""
            try:
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                status = response.status
                timing = response.getheader("Server-Timing", "")
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                status = type(error).__name__  # type: ignore[assignment]
            elapsed = (time.perf_counter() - started) * 1000
            if status == 201:
                ok += 1
                latencies.append(elapsed)
                if timing.startswith("app;dur="):
                    server.append(float(timing[8:]))
                second = int(now - start_at)
                per_second[second] = per_second.get(second, 0) + 1
            else:
                errors[str(status)] = errors.get(str(status), 0) + 1
        conn.close()
        with lock:
            results.append((latencies, ok, errors, per_second, server))

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    latencies = [x for r in results for x in r[0]]
    errors: dict[str, int] = {}
    per_second: dict[int, int] = {}
    for r in results:
        for k, v in r[2].items():
            errors[k] = errors.get(k, 0) + v
        for second, n in r[3].items():
            per_second[second] = per_second.get(second, 0) + n
    server = [x for r in results for x in r[4]]
    queue.put((latencies, sum(r[1] for r in results), errors, per_second, server))


def start_drains(database_url: str, count: int, nice: int, batch: int, share: float) -> list[subprocess.Popen[str]]:
    command = [PYTHON, "-m", "tillit.cli.main", "capture", "drain", "--batch", str(batch), "--idle-seconds", "0.1"]
    command += ["--busy-share", str(share)]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    return [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env={**environment(database_url), "PGAPPNAME": DRAIN_APP},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for _ in range(count)
    ]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc), 0 for one that is gone."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def backends(database_url: str) -> list[int]:
    """The PostgreSQL server processes serving this database (same machine)."""
    import psycopg

    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
        ).fetchall()
    return [int(r[0]) for r in rows]


def renice_drain_backends(database_url: str, nice: int) -> list[int]:
    """Give the drains' PostgreSQL backends the drains' own lower priority (same machine; the
    request path takes no lock a drain holds, so nothing waits on them): the priority of the
    process alone would leave the half of a drain's work that runs in its backend at full
    priority. Returns their pids."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [DRAIN_APP]).fetchall()
    pids = [int(r[0]) for r in rows]
    for pid in pids:
        if nice:
            subprocess.run(["renice", "-n", str(nice), "-p", str(pid)], check=False, capture_output=True)
    return pids


def pending(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM capture_formintake WHERE status = 'pending'").fetchone()
    return int(row[0]) if row else 0


def run_script(database_url: str, script: str) -> dict:
    out = subprocess.run(
        [PYTHON, "-c", script], cwd=ROOT, env=environment(database_url), check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--threads", type=int, default=8, help="client threads per process")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--server-threads", type=int, default=8, help="threads per gunicorn worker (gthread; 1: sync workers)"
    )
    parser.add_argument("--drains", type=int, default=1, help="tillit capture drain processes")
    parser.add_argument(
        "--drain-nice", type=int, default=19, help="nice level of the drains and their backends (0: none)"
    )
    parser.add_argument(
        "--drain-after",
        action="store_true",
        help="hold the drains during the load (a comparison: the request path alone)",
    )
    parser.add_argument(
        "--busy-share", type=float, default=0.2, help="the drains' --busy-share (their CPU share under load)"
    )
    parser.add_argument("--batch", type=int, default=500, help="submissions per drain transaction")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()

    form_id = prepare(args.database_url)
    port = free_port()
    server = serve(args.database_url, port, args.workers, args.server_threads)
    drains = start_drains(args.database_url, args.drains, args.drain_nice, args.batch, args.busy_share)
    load_before = os.getloadavg()[0]
    try:
        # Warm-up: imports, templates, connections in both workers.
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(20):
            warm.request(
                "POST",
                f"/forms/{form_id}/submissions",
                json.dumps({"name": "Warm Up", "email": f"bench-warmup-{i}@example.com"}),
                {"Content-Type": "application/json"},
            )
            warm.getresponse().read()
        warm.close()
        deadline = time.monotonic() + 30
        while not (drain_backends := renice_drain_backends(args.database_url, args.drain_nice)):
            if time.monotonic() > deadline:
                sys.exit("capture_forms: the drains did not connect")
            time.sleep(0.2)

        queue: multiprocessing.Queue = multiprocessing.Queue()
        start_at = time.time() + 1.0
        stop_at = start_at + args.seconds
        procs = [
            multiprocessing.Process(
                target=client_process, args=(port, form_id, args.threads, start_at, stop_at, f"p{p}", queue)
            )
            for p in range(args.processes)
        ]
        for p in procs:
            p.start()
        # CPU time of each party over the measured seconds: the app, the drains, PostgreSQL, the load.
        groups = {
            "app": children(server.pid),
            "drain": [d.pid for d in drains] + drain_backends,
            "postgres": [pid for pid in backends(args.database_url) if pid not in drain_backends],
            "clients": [p.pid for p in procs if p.pid],
        }
        if args.drain_after:  # a comparison: the request path alone, the drains held until the load ends
            while pending(args.database_url):
                time.sleep(0.1)
            for d in drains:
                os.killpg(d.pid, signal.SIGSTOP)
        time.sleep(max(0.0, start_at - time.time()))
        cpu_start_of = {pid: cpu_seconds([pid]) for pids in groups.values() for pid in pids}
        time.sleep(max(0.0, stop_at - time.time()))
        # Connections opened during the run (a gthread worker's threads connect when first used).
        groups["postgres"] = sorted(set(groups["postgres"]) | set(backends(args.database_url)) - set(drain_backends))
        cpu = {k: cpu_seconds(v) - sum(cpu_start_of.get(pid, 0.0) for pid in v) for k, v in groups.items()}
        parts = [queue.get(timeout=args.seconds + 120) for _ in procs]
        for p in procs:
            p.join()
        if args.drain_after:
            for d in drains:
                os.killpg(d.pid, signal.SIGCONT)
        load_during = os.getloadavg()[0]
        # The load has stopped: the drains catch up with what is still queued.
        ended = time.monotonic()
        backlog = pending(args.database_url)
        while (left := pending(args.database_url)) > 0:
            if any(d.poll() is not None for d in drains):
                sys.exit("capture_forms: a drain stopped: " + "".join(d.stderr.read() for d in drains if d.stderr))
            if time.monotonic() - ended > 1800:
                sys.exit(f"capture_forms: {left} submissions still pending after 30 minutes")
            time.sleep(0.2)
        catch_up = time.monotonic() - ended
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        for d in drains:
            if d.poll() is None:
                os.killpg(d.pid, signal.SIGTERM)
        drain_output = [d.communicate(timeout=60) for d in drains]
    drained = 0
    for out, _err in drain_output:
        for line in out.splitlines():
            if line.startswith("Drained "):
                drained += int(line.split()[1])

    latencies = sorted(x for part in parts for x in part[0])
    accepted = sum(part[1] for part in parts)
    errors: dict[str, int] = {}
    per_second: dict[int, int] = {}
    for part in parts:
        for k, v in part[2].items():
            errors[k] = errors.get(k, 0) + v
        for k, v in part[3].items():
            per_second[k] = per_second.get(k, 0) + v
    counted = run_script(args.database_url, COUNT)
    profile = run_script(args.database_url, PROFILE)
    server_ms = sorted(x for part in parts for x in part[4])
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else float("nan")
    windows = [sum(per_second.get(s, 0) for s in range(w, w + 10)) / 10 for w in range(0, args.seconds - 9, 10)]
    clients = args.processes * args.threads
    kind = (
        "sync workers"
        if args.server_threads <= 1
        else f"gthread workers x {args.server_threads} threads (the issue's 2 workers; threads allowed)"
    )
    print(f"capture_forms: gunicorn {args.workers} {kind}, {clients} clients, {args.seconds} s, PostgreSQL")
    print(
        f"  intake: queued (one INSERT per request); {args.drains} x tillit capture drain (batch {args.batch}, "
        f"busy share {args.busy_share}, "
        f"nice {args.drain_nice}, its PostgreSQL backend too) "
        f"{'held during the run, then' if args.drain_after else 'during and'} after the run; "
        f"load average {load_before:.1f} before, {load_during:.1f} at the end (2 cores, shared)"
    )
    print(f"  sustained: {accepted / args.seconds:.1f} submissions/s ({accepted} accepted)")
    print(f"  per 10 s window: min {min(windows, default=0):.1f}/s, max {max(windows, default=0):.1f}/s")
    print(f"  latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms (at the client, queueing included)")
    if server_ms:
        s50, s99 = statistics.median(server_ms), server_ms[max(0, int(len(server_ms) * 0.99) - 1)]
        print(f"  time in the app (Server-Timing): p50 {s50:.1f} ms, p99 {s99:.1f} ms")
    print(
        f"  one request in-process: {profile['statements']:.0f} SQL statement(s) (autocommit INSERT; middleware "
        f"reads nothing), median {profile['median_ms']:.2f} ms; the drain: "
        f"{profile['drain_statements_per_row']:.1f} statements and {profile['drain_per_row_ms']:.1f} ms per "
        f"submission (batch of {profile['applied']})"
    )
    print(f"  errors: {sum(errors.values())} {errors if errors else ''}".rstrip())
    per = 1000 / max(accepted, 1)
    print(
        f"  CPU during the run, per accepted submission: app {cpu['app'] * per:.2f} ms (gunicorn workers), "
        f"PostgreSQL {cpu['postgres'] * per:.2f} ms (the app's backends), load generator {cpu['clients'] * per:.2f} "
        f"ms, drain {cpu['drain'] * per:.2f} ms (with its backend); "
        f"all four {sum(cpu.values()) / args.seconds:.2f} of 2 cores"
    )
    total = accepted + 20  # and the warm-up
    drain_seconds = args.seconds + catch_up
    print(
        f"  drain: {drained} applied, {drained / drain_seconds:.1f}/s over the run and the catch-up; backlog at the "
        f"end of the load {backlog}, drained {catch_up:.1f} s later"
        + (f" ({backlog / catch_up:.1f}/s with the load gone)" if catch_up > 0 and backlog else "")
    )
    equal = (
        counted["people"] == total
        and counted["submissions"] == total
        and counted["interactions"] == total
        and counted["consents"] == accepted
        and drained == total
        and counted["pending"] == 0
        and counted["rejected"] == 0
    )
    print(
        f"  stored afterwards: {counted['people']} people, {counted['submissions']} submissions, "
        f"{counted['interactions']} form interactions (each +20 warm-up), {counted['consents']} consent entries; "
        f"intake rows applied {drained}, pending {counted['pending']}, rejected {counted['rejected']}; "
        f"accepted {accepted} (+20): {'EQUAL' if equal else 'MISMATCH'}"
    )
    print(f"  target >= 500/s and p99 < 100 ms: {'met' if accepted / args.seconds >= 500 and p99 < 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
