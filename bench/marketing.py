"""Benchmark of marketing (PostgreSQL).

1. The audience of a newsletter over the demo data set (read only):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tillit_bench .venv/bin/python bench/marketing.py audience

   tillit's query (``marketing.selectors.audience``: the eligibility rule in SQL, the open
   subscribers, not suppressed) next to the same question as hand-written SQL, median of 5.

2. and 3. Sending, on a database of your own (it is written to):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tillit_mkt_bench .venv/bin/tillit migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tillit_mkt_bench \
        .venv/bin/python bench/marketing.py send --people 10000

   A campaign to N subscribers, sent by 2 ``tillit db_worker`` processes to a local aiosmtpd
   server: messages per second at the server (first to last message). Then the same again with
   both workers killed (SIGKILL) in the middle, resumed, and every message counted at the
   server by Message-ID: each exactly once.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from tillit import policy  # noqa: E402
from tillit.audit import ledgers  # noqa: E402
from tillit.consent import selectors as consent_selectors  # noqa: E402
from tillit.consent.models import ConsentEvent, NoticeVersion, Subscription  # noqa: E402
from tillit.core.actors import Actor  # noqa: E402
from tillit.marketing import selectors, services  # noqa: E402
from tillit.marketing.models import Campaign, NewsletterList, SendRecord  # noqa: E402
from tillit.people.models import Person  # noqa: E402

# The same question by hand: newsletter consent given (latest event), an open subscription,
# told about the purpose, no objection to it or to direct marketing, an address, and neither
# the address nor the number on the suppression list (HMAC-SHA256 from sha256(), RFC 2104).
HAND_WRITTEN = """
SELECT count(*) FROM people_person p
WHERE p.notice_version_id = ANY(%(versions)s) AND p.email IS NOT NULL
  AND EXISTS (SELECT 1 FROM consent_subscription s
              WHERE s.person_id = p.id AND s.newsletter = %(newsletter)s AND s.unsubscribed_at IS NULL)
  AND (SELECT e.action FROM consent_consentevent e
       WHERE e.person_id = p.id AND e.purpose = 'newsletter' AND e.channel = 'email'
       ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) = 'given'
  AND NOT EXISTS (SELECT 1 FROM consent_consentevent o WHERE o.person_id = p.id
                  AND o.purpose = 'direct_marketing' AND o.channel = 'all' AND o.action = 'objected')
  AND NOT EXISTS (SELECT 1 FROM consent_consentevent o WHERE o.person_id = p.id
                  AND o.purpose = 'newsletter' AND o.action = 'objected')
  AND NOT EXISTS (SELECT 1 FROM consent_suppressionentry x WHERE x.channel = 'email' AND x.digest =
      encode(sha256(%(outer)s::bytea || sha256(%(inner)s::bytea || convert_to('email:' || p.email, 'UTF8'))), 'hex'))
  AND NOT EXISTS (SELECT 1 FROM consent_suppressionentry x WHERE x.channel = 'phone' AND x.digest =
      encode(sha256(%(outer)s::bytea || sha256(%(inner)s::bytea || convert_to('phone:' || p.phone, 'UTF8'))), 'hex'))
"""


def pads() -> tuple[bytes, bytes]:
    import hashlib

    key = settings.TILLIT_IDENTIFIER_KEY.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x5C for b in key), bytes(b ^ 0x36 for b in key)


def audience() -> None:
    from tillit.people.demo import DEMO_NEWSLETTER

    people = Person.objects.count()
    outer, inner = pads()
    versions = consent_selectors.versions_with_purpose("newsletter")
    ours, hand = [], []
    for _ in range(5):
        started = time.perf_counter()
        count = selectors.audience(purpose="newsletter", newsletter=DEMO_NEWSLETTER).count()
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                HAND_WRITTEN, {"versions": versions, "newsletter": DEMO_NEWSLETTER, "outer": outer, "inner": inner}
            )
            (hand_count,) = cursor.fetchone()
        hand.append(time.perf_counter() - started)
    print(
        f"campaign audience of newsletter {DEMO_NEWSLETTER} over {people:,} people: {count:,} recipients, "
        f"tillit {statistics.median(ours):.2f} s (p99 of 5: {max(ours):.2f} s), hand-written SQL "
        f"{statistics.median(hand):.2f} s ({hand_count:,}), "
        f"ratio {statistics.median(hand) / statistics.median(ours):.2f}x "
        "(median of 5; target < 2 s)"
    )


class Counter:
    """An aiosmtpd handler that only counts Message-IDs and arrival times."""

    pattern = re.compile(rb"^Message-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)

    def __init__(self) -> None:
        self.ids: collections.Counter[bytes] = collections.Counter()
        self.first = self.last = 0.0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        found = self.pattern.search(envelope.content)
        now = time.perf_counter()
        with self.lock:
            self.ids[found.group(1) if found else b"?"] += 1
            self.first = self.first or now
            self.last = now
        return "250 OK"

    @property
    def total(self) -> int:
        return sum(self.ids.values())


def load_subscribers(n: int, key: str) -> None:
    have = Subscription.objects.filter(newsletter=key, unsubscribed_at=None).count()
    if have >= n:
        return
    now = timezone.now()
    notice = NoticeVersion.objects.filter(digest="b" * 64).first() or NoticeVersion.objects.create(
        digest="b" * 64,
        policy_digest=policy.current().digest,
        published_at=now,
        purposes=list(policy.current().purposes),
        texts={},
    )
    batch = uuid.uuid4().hex[:8]
    people = Person.objects.bulk_create(
        [
            Person(
                pseudonym=uuid.uuid4(),
                name=f"Reader {i}",
                email=f"reader{i}.{batch}@example.com",
                language=("en", "sv", "nb")[i % 3],
                notice_version=notice,
                created_at=now,
                updated_at=now,
            )
            for i in range(n - have)
        ],
        batch_size=5000,
    )
    ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(
                person=p,
                purpose="newsletter",
                channel="email",
                action="given",
                basis="consent",
                occurred_at=now,
                source_kind="double_opt_in",
                wording="Yes",
                language="en",
                notice_version=notice,
            )
            for p in people
        ],
        batch_size=5000,
    )
    ledgers.seal("consent")  # the ledger is sealed (tillit.audit.ledgers): one pass, chunked
    Subscription.objects.bulk_create(
        [Subscription(person=p, newsletter=key, subscribed_at=now) for p in people], batch_size=5000
    )


def workers(env: dict[str, str], count: int) -> list[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "tillit.cli.main",
        "db_worker",
        "--no-reload",
        "--no-startup-delay",
        "--interval",
        "0.05",
    ]
    return [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)
    ]


def stop(processes: list[subprocess.Popen[bytes]], sig: int = signal.SIGTERM) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(sig)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def wait(condition, timeout: float = 1800) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("bench/marketing.py: timed out")
        time.sleep(0.05)


def new_campaign(key: str, name: str) -> Campaign:
    actor = Actor.system("bench")
    campaign = services.create_campaign(
        actor=actor,
        now=timezone.now(),
        values={
            "name": name,
            "newsletter": key,
            "subjects": {"en": "Bench news", "sv": "Nyheter", "nb": "Nyheter"},
            "bodies_text": {"en": "Hello " * 80, "sv": "Hej " * 80, "nb": "Hei " * 80},
            "bodies_html": {"en": "<p>" + "Hello " * 80 + "</p>"},
        },
    )
    return campaign


def send(n: int) -> None:
    from aiosmtpd.controller import Controller

    key = "bench-news"
    if not NewsletterList.objects.filter(key=key).exists():
        services.create_newsletter(
            actor=Actor.system("bench"), now=timezone.now(), key=key, name={"en": "Bench"}, description={}
        )
    load_subscribers(n, key)
    with connection.cursor() as cursor:  # fresh bulk-loaded tables: give the planner statistics
        cursor.execute("ANALYZE")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "TILLIT_EMAIL_HOST": "127.0.0.1",
        "TILLIT_EMAIL_PORT": str(port),
        "TILLIT_DEBUG": "false",
        "TILLIT_SECRET_KEY": settings.SECRET_KEY,
        "TILLIT_IDENTIFIER_KEY": settings.TILLIT_IDENTIFIER_KEY,
        "TILLIT_PUBLIC_URL": "https://tillit.example.com",
    }

    # 2. Throughput with 2 workers.
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    running = workers(env, 2)
    try:
        time.sleep(3)  # let the workers start (Django set-up) before the clock starts
        campaign = new_campaign(key, f"throughput {uuid.uuid4().hex[:6]}")
        started = time.perf_counter()
        recipients = services.start_campaign(actor=Actor.system("bench"), now=timezone.now(), campaign_id=campaign.pk)
        wait(lambda: Campaign.objects.get(pk=campaign.pk).status == "sent")
        finished = time.perf_counter()
    finally:
        stop(running)
        controller.stop()
    elapsed = counter.last - counter.first
    print(
        f"send a campaign to {recipients:,} subscribers with 2 db_worker processes over SMTP (aiosmtpd, loopback): "
        f"{counter.total:,} messages in {elapsed:.1f} s at the server = {counter.total / elapsed:.0f} messages/s "
        f"(start to campaign 'sent': {finished - started:.1f} s incl. recipient list; target >= 200/s)"
    )

    # 3. Killed mid-send, resumed: every message exactly once.
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    running = workers(env, 2)
    try:
        time.sleep(3)
        campaign = new_campaign(key, f"kill {uuid.uuid4().hex[:6]}")
        recipients = services.start_campaign(actor=Actor.system("bench"), now=timezone.now(), campaign_id=campaign.pk)
        wait(lambda: counter.total >= recipients // 3)
        stop(running, signal.SIGKILL)
        killed_at = counter.total
        left = services.resume_campaign(actor=Actor.system("bench"), now=timezone.now(), campaign_id=campaign.pk)
        running = workers(env, 2)
        wait(lambda: Campaign.objects.get(pk=campaign.pk).status == "sent")
    finally:
        stop(running)
        controller.stop()
    expected = {m.encode() for m in SendRecord.objects.filter(campaign=campaign).values_list("message_id", flat=True)}
    twice = sum(1 for c in counter.ids.values() if c > 1)
    missing = len(expected - set(counter.ids))
    unconfirmed = SendRecord.objects.filter(campaign=campaign, reason="unconfirmed").count()
    print(
        f"kill both workers (SIGKILL) after {killed_at:,} of {recipients:,} messages, resume ({left:,} left): "
        f"{counter.total:,} messages at the server, {len(set(counter.ids) & expected):,} distinct recipients, "
        f"{twice} received twice, {missing} missing ({unconfirmed} in doubt at the kill, not resent): "
        + (
            "every message exactly once"
            if not twice and not missing and counter.total == recipients
            else "NOT exactly once"
        )
    )


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("bench/marketing.py: DATABASE_URL must name a PostgreSQL database")
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["audience", "send"])
    parser.add_argument("--people", type=int, default=10_000)
    args = parser.parse_args()
    if args.part == "audience":
        audience()
    else:
        send(args.people)


if __name__ == "__main__":
    main()
