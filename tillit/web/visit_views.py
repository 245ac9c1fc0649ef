"""The visit statistics (policy §7 statistics, §4 technical information): daily counts per
page, browser, operating system and language. Counts only, no personal data; for the roles
whose tools include ``visit_statistics`` (marketing, the privacy officer)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from tillit.capture import visits
from tillit.core.actors import Actor
from tillit.web.views import staff_view

PERIODS = (7, 30, 90, 365)


@staff_view
def visit_statistics(request: HttpRequest, actor: Actor) -> HttpResponse:
    try:
        days = int(request.GET.get("days", "30"))
    except ValueError:
        days = 30
    if days not in PERIODS:
        days = 30
    stats = visits.visit_statistics(actor=actor, now=timezone.now(), days=days)
    peak = max((n for _, n in stats.days), default=0) or 1
    bars = [{"day": day, "count": n, "percent": round(n / peak * 100)} for day, n in stats.days]
    return render(
        request, "web/visit_statistics.html", {"stats": stats, "bars": bars, "days": days, "periods": PERIODS}
    )
