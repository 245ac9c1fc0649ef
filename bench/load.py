"""Mixed load on the whole system (issue 10, "Hardening"): bounded in count and time, loopback only.

    .venv/bin/python bench/load.py [--seconds 60] [--clients 8]

1. (Re)creates its own PostgreSQL database ``tillit_load`` (never the shared ``tillit_bench``),
   migrates it, publishes the notice, loads 2,000 demo people with the demo staff, defines one
   form and makes API tokens for the demo marketer and salesperson.
2. Serves the app with gunicorn (2 workers, DEBUG off, the production intake: form submissions
   are queued and applied by a ``tillit capture drain`` process beside it). Rate limits are
   switched off (every request comes from 127.0.0.1 here).
3. For ``--seconds`` seconds, ``--clients`` clients each loop over a mix of operations:
   - form submissions (40 %): ``POST /forms/<id>/submissions``, a new person each time;
   - consent changes (20 %): ``POST /api/people/<id>/consents`` as the marketer;
   - staff reads (30 %): ``GET /api/people/<id>?purpose=sales_dialogue`` as the salesperson;
   - access requests (10 %): the rights portal, ``GET /rights`` then ``POST /rights``.
4. Reports throughput and p50/p99 per operation, every error, and compares the writes the
   server accepted with what is stored once the intake is drained (they must be equal).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
TILLIT = str(ROOT / ".venv" / "bin" / "tillit")
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tillit_load"
MIX = (("form", 40), ("consent", 20), ("read", 30), ("access", 10))
MAX_SECONDS, MAX_CLIENTS = 300, 64
TAG = "load-bench"

SETUP = """
import django, json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.utils import timezone
from tillit.accounts import services as accounts
from tillit.accounts.models import User
from tillit.capture import services
from tillit.core.actors import Actor
from tillit.people.models import Person
now, system = timezone.now(), Actor.system("bench")
form = services.create_form(
    actor=system, now=now, name="Contact us (load test)", language="en",
    fields=[{"name": "name"}, {"name": "email"}, {"name": "message"}],
    consents=[{"purpose": "newsletter", "channel": "email"}],
)
tokens = {}
for role, username in (("marketing", "marketing"), ("sales", "sales")):
    user = User.objects.get(username=username)
    tokens[role] = accounts.create_api_client(actor=system, now=now, user_id=user.pk, name="load")[1]
people = list(Person.objects.filter(email__isnull=False).order_by("pk").values_list("pk", flat=True)[:2000])
print(json.dumps({"form": str(form.public_id), "tokens": tokens, "people": people}))
"""

COUNT = """
import django, json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from tillit.capture.models import FormIntake, FormSubmission
from tillit.consent.models import ConsentEvent
from tillit.rights.models import DataSubjectRequest
print(json.dumps({
    "pending": FormIntake.objects.filter(status="pending").count(),
    "form": FormSubmission.objects.count(),
    "consent": ConsentEvent.objects.filter(source_ref="__TAG__").count(),
    "access": DataSubjectRequest.objects.filter(kind="access").count(),
}))
""".replace("__TAG__", TAG)


def environment(database_url: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TILLIT_")},
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "TILLIT_DEBUG": "false",
        "TILLIT_SECRET_KEY": "load-test-only-" + "x" * 40,
        "TILLIT_SSL_REDIRECT": "false",
        "TILLIT_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TILLIT_DATA_DIR": "/tmp/tillit-load-var",
        "TILLIT_FORM_INTAKE": "queued",
        "TILLIT_FORM_RATE_PER_MINUTE": "0",
        "TILLIT_PUBLIC_RATE_PER_MINUTE": "0",
        "TILLIT_RIGHTS_RATE_PER_SOURCE": "0",
    }


def run(env: dict[str, str], *command: str) -> str:
    return subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout


def prepare(database_url: str) -> dict:
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if name in ("tillit_bench", "tillit", "postgres"):
        sys.exit(f"load: refusing to recreate the shared database {name!r}")
    import psycopg

    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = environment(database_url)
    run(env, TILLIT, "migrate", "-v0")
    run(env, TILLIT, "notice", "publish")
    run(env, TILLIT, "demo", "--people", "2000")
    return json.loads(run(env, PYTHON, "-c", SETUP).strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(database_url: str, port: int) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    env = environment(database_url)
    server = subprocess.Popen(
        [GUNICORN, "config.wsgi", "-w", "2", "-k", "gthread", "--threads", "8", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    drain = subprocess.Popen(
        [TILLIT, "capture", "drain", "--idle-seconds", "0.2"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server, drain
        except OSError:
            time.sleep(0.2)
    server.kill()
    drain.kill()
    sys.exit("load: gunicorn did not start")


class Session:
    """One client: a keep-alive connection and what each operation needs."""

    def __init__(self, port: int, setup: dict, tag: str, seed: int) -> None:
        self.port, self.setup, self.tag = port, setup, tag
        self.random = random.Random(seed)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.n = 0

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, str, dict]:
        try:
            self.conn.request(method, path, body, headers)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            return response.status, text, dict(response.getheaders())
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            raise

    def form(self) -> bool:
        body = {
            "name": f"Load Person {self.tag}-{self.n}",
            "email": f"load-{self.tag}-{self.n}@example.com",
            "message": "Tell me more about backup.",
            "consent_newsletter_email": True,
        }
        status, _, _ = self.request(
            "POST",
            f"/forms/{self.setup['form']}/submissions",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        return status == 201

    def consent(self) -> bool:
        person = self.random.choice(self.setup["people"])
        body = {
            "purpose": "newsletter",
            "channel": "email",
            "wording": "Yes, send me the monthly newsletter.",
            "source_kind": "staff",
            "source_ref": TAG,
        }
        status, _, _ = self.request(
            "POST",
            f"/api/people/{person}/consents",
            json.dumps(body).encode(),
            {"Content-Type": "application/json", "Authorization": f"Bearer {self.setup['tokens']['marketing']}"},
        )
        return status == 201

    def read(self) -> bool:
        person = self.random.choice(self.setup["people"])
        status, _, _ = self.request(
            "GET",
            f"/api/people/{person}?purpose=sales_dialogue",
            None,
            {"Authorization": f"Bearer {self.setup['tokens']['sales']}"},
        )
        return status in (200, 404)  # 404: the person may not be shown for that purpose (the read gate)

    def access(self) -> bool:
        status, page, headers = self.request("GET", "/rights?lang=en", None, {})
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        cookie = re.search(r"csrftoken=([^;]+)", headers.get("Set-Cookie", ""))
        if status != 200 or not token or not cookie:
            return False
        form = {
            "csrfmiddlewaretoken": token.group(1),
            "lang": "en",
            "email": f"load-access-{self.tag}-{self.n}@example.com",
            "kind": "access",
        }
        status, _, _ = self.request(
            "POST",
            "/rights?lang=en",
            urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookie.group(1)}"},
        )
        return status == 200


def client_process(port: int, setup: dict, threads: int, start_at: float, stop_at: float, tag: str, queue) -> None:
    names = [name for name, weight in MIX for _ in range(weight)]
    results: list[dict] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        session = Session(port, setup, f"{tag}{n}", seed=hash((tag, n)) & 0xFFFF)
        mine: dict[str, dict] = {name: {"ok": 0, "errors": 0, "latencies": []} for name, _ in MIX}
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < stop_at:
            session.n += 1
            op = session.random.choice(names)
            started = time.perf_counter()
            try:
                ok = getattr(session, op)()
            except (OSError, http.client.HTTPException):
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
            if ok:
                mine[op]["ok"] += 1
                mine[op]["latencies"].append(elapsed)
            else:
                mine[op]["errors"] += 1
        with lock:
            results.append(mine)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if not 1 <= args.seconds <= MAX_SECONDS or not 1 <= args.clients <= MAX_CLIENTS:
        sys.exit(f"load: --seconds must be 1..{MAX_SECONDS} and --clients 1..{MAX_CLIENTS}")
    if urlsplit(args.database_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("load: the database must be on this machine (loopback only)")

    setup = prepare(args.database_url)
    port = free_port()
    server, drain = start(args.database_url, port)
    processes = 2
    try:
        queue: multiprocessing.Queue = multiprocessing.Queue()
        start_at = time.time() + 1.0
        stop_at = start_at + args.seconds
        per_process = max(1, args.clients // processes)
        procs = [
            multiprocessing.Process(
                target=client_process, args=(port, setup, per_process, start_at, stop_at, f"p{p}t", queue)
            )
            for p in range(processes)
        ]
        for proc in procs:
            proc.start()
        parts = [r for _ in procs for r in queue.get(timeout=args.seconds + 120)]
        for proc in procs:
            proc.join()
        env = environment(args.database_url)
        deadline = time.monotonic() + 600
        while True:  # wait for the drain to apply every queued submission
            counted = json.loads(run(env, PYTHON, "-c", COUNT))
            if counted["pending"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        drained_at = time.time()
    finally:
        for process in (server, drain):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)

    total_ok = total_errors = 0
    print(f"load: {args.seconds} s, {per_process * processes} clients, gunicorn 2 workers (gthread x 8), PostgreSQL")
    for name, _weight in MIX:
        latencies = sorted(x for part in parts for x in part[name]["latencies"])
        ok = sum(part[name]["ok"] for part in parts)
        errors = sum(part[name]["errors"] for part in parts)
        total_ok, total_errors = total_ok + ok, total_errors + errors
        p50 = statistics.median(latencies) if latencies else float("nan")
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else float("nan")
        print(
            f"  {name:<8} {ok:>7} ok  {ok / args.seconds:7.1f}/s   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   "
            f"errors {errors}"
        )
    print(f"  total    {total_ok:>7} ok  {total_ok / args.seconds:7.1f}/s   errors {total_errors}")
    accepted = {name: sum(part[name]["ok"] for part in parts) for name in ("form", "consent", "access")}
    print(f"  intake drained {drained_at - stop_at:.1f} s after the load stopped ({counted['pending']} still pending)")
    lost = 0
    for name in ("form", "consent", "access"):
        verdict = "EQUAL" if counted[name] == accepted[name] else "MISMATCH"
        lost += abs(counted[name] - accepted[name])
        print(f"  {name:<8} accepted {accepted[name]:>7}  stored {counted[name]:>7}  {verdict}")
    print(f"  errors: {total_errors}; lost or extra writes: {lost}")


if __name__ == "__main__":
    main()
