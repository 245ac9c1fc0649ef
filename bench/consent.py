"""Benchmark of the consent ledger on the demo data set (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tillit_bench .venv/bin/python bench/consent.py

Prints:
- recording one consent through the JSON API: the server-side time (the view, measured around
  Django's handler in-process, no network), median and p99 over 300 requests;
- the eligibility query "everyone we may email for newsletter N now" over every person, as
  one set-based query (tillit's ORM query), next to the same question as hand-written SQL on
  the same data, and the ratio.
"""

from __future__ import annotations

import json
import os
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("TILLIT_ALLOWED_HOSTS", "testserver")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from tillit.accounts import services as account_services  # noqa: E402
from tillit.accounts.models import User  # noqa: E402
from tillit.consent import selectors  # noqa: E402
from tillit.core.actors import Actor  # noqa: E402
from tillit.people.demo import DEMO_NEWSLETTER  # noqa: E402
from tillit.people.models import Person  # noqa: E402

HAND_WRITTEN = """
SELECT count(*) FROM people_person p
WHERE p.notice_version_id = ANY(%(versions)s)
  AND EXISTS (SELECT 1 FROM consent_subscription s
              WHERE s.person_id = p.id AND s.newsletter = %(newsletter)s AND s.unsubscribed_at IS NULL)
  AND EXISTS (SELECT 1 FROM (SELECT DISTINCT ON (e.person_id) e.action FROM consent_consentevent e
                             WHERE e.person_id = p.id AND e.purpose = 'newsletter' AND e.channel = 'email'
                             ORDER BY e.person_id, e.occurred_at DESC, e.id DESC) latest
              WHERE latest.action = 'given')
  AND NOT EXISTS (SELECT 1 FROM consent_consentevent o WHERE o.person_id = p.id
                  AND o.purpose = 'direct_marketing' AND o.channel = 'all' AND o.action = 'objected')
  AND NOT EXISTS (SELECT 1 FROM consent_consentevent o WHERE o.person_id = p.id
                  AND o.purpose = 'newsletter' AND o.action = 'objected')
"""


def median_and_p99(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("bench/consent.py: DATABASE_URL must name the PostgreSQL demo database")
    people = Person.objects.count()
    now = timezone.now()
    user = User.objects.filter(username="bench-marketing").first() or account_services.create_staff_user(
        actor=Actor.system("bench"), now=now, username="bench-marketing", role="marketing", password="x" * 20
    )
    _, token = account_services.create_api_client(
        actor=Actor.system("bench"), now=now, user_id=user.pk, name=f"bench-{time.time_ns()}"
    )
    client = Client(headers={"Authorization": f"Bearer {token}"})
    ids = list(Person.objects.order_by("?").values_list("pk", flat=True)[:300])
    body = {
        "purpose": "newsletter",
        "channel": "email",
        "source_kind": "api",
        "language": "en",
        "wording": "Yes, send me Avara's monthly newsletter by email. I can unsubscribe at any time.",
    }
    timings, server = [], []
    for pid in ids:
        started = time.perf_counter()
        response = client.post(f"/api/people/{pid}/consents", json.dumps(body), content_type="application/json")
        timings.append(time.perf_counter() - started)
        assert response.status_code == 201, response.content
        server.append(float(response["Server-Timing"].split("dur=")[1]) / 1000)
    median, p99 = median_and_p99(server)
    outer, _ = median_and_p99(timings)
    print(
        f"record one consent (API, {len(server)} requests): server side (Server-Timing) median "
        f"{median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; with the test client {outer * 1000:.1f} ms "
        "(target: median < 5 ms)"
    )

    ours, hand = [], []
    versions = selectors.versions_with_purpose("newsletter")
    for _ in range(5):
        started = time.perf_counter()
        count = selectors.audience(purpose="newsletter", channel="email", newsletter=DEMO_NEWSLETTER).count()
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(HAND_WRITTEN, {"versions": versions, "newsletter": DEMO_NEWSLETTER})
            (hand_count,) = cursor.fetchone()
        hand.append(time.perf_counter() - started)
    print(
        f"audience 'may email for newsletter {DEMO_NEWSLETTER}' over {people:,} people: {count:,} people, "
        f"tillit {statistics.median(ours):.2f} s, hand-written SQL {statistics.median(hand):.2f} s "
        f"({hand_count:,} people), ratio {statistics.median(hand) / statistics.median(ours):.2f}x "
        "(median of 5; target < 2 s)"
    )


if __name__ == "__main__":
    main()
