"""Views of the staff UI. They translate: parse input, build the actor, call one service or
selector, render. Domain errors become a page with the message (403/404/422)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from tillit import policy
from tillit.accounts import selectors as account_selectors
from tillit.accounts import services as account_services
from tillit.accounts.selectors import actor_for_user
from tillit.core.actors import Actor
from tillit.core.errors import DomainError
from tillit.retention import selectors as retention_selectors

View = Callable[..., HttpResponse]


def staff_view(view: Callable[..., HttpResponse]) -> View:
    """Sign-in with the second factor required; passes the actor; turns domain errors into an
    error page with the status of the error."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated or not user.is_verified():  # type: ignore[union-attr,attr-defined]
            return redirect_to_login(request.get_full_path(), reverse("web:login"))
        actor = actor_for_user(user)  # type: ignore[arg-type]
        try:
            return view(request, actor, *args, **kwargs)
        except DomainError as error:
            if error.status == 403:
                where = request.resolver_match.view_name if request.resolver_match else request.path
                account_services.record_refusal(actor=actor, now=timezone.now(), where=where)
            return render(request, "web/error.html", {"error": error}, status=error.status)

    return wrapper


def home(request: HttpRequest) -> HttpResponse:
    """The front page: what tillit is and where to go; for signed-in staff, their own tasks."""
    current = policy.current()
    context: dict[str, Any] = {"controller": current.controller, "roles": current.roles, "purposes": current.purposes}
    user = request.user
    if user.is_authenticated and user.is_verified():  # type: ignore[union-attr,attr-defined]
        last, review = account_selectors.mailbox_review_status(user_id=user.pk, now=timezone.now())
        # Shown from the reminder period before the due date (§16), and while overdue.
        context["mailbox_review_due"] = review.is_reminder_due
        context["mailbox_review_overdue"] = review.is_overdue
        context["mailbox_review_due_at"] = review.due_at
        context["mailbox_review_last"] = last
    return render(request, "web/home.html", context)


CHART_HEIGHT = 160


@staff_view
def retention_forecast(request: HttpRequest, actor: Actor) -> HttpResponse:
    """People reaching their retention deadline per month for the next 24 months, per reason."""
    forecast = retention_selectors.forecast_for(actor=actor, now=timezone.now())
    totals = [sum(forecast.counts[r][i] for r in forecast.reasons) for i in range(len(forecast.months))]
    peak = max(totals, default=0) or 1
    colours = ["#3b6ea5", "#e07b39", "#5a9e5a", "#b54a4a", "#8064a2", "#6b6b6b"]
    bars = []
    for i, month in enumerate(forecast.months):
        y: float = CHART_HEIGHT
        segments = []
        for n, reason in enumerate(forecast.reasons):
            height = round(forecast.counts[reason][i] / peak * CHART_HEIGHT, 1)
            y -= height
            segments.append(
                {
                    "y": y,
                    "height": height,
                    "colour": colours[n % len(colours)],
                    "count": forecast.counts[reason][i],
                    "reason": reason,
                }
            )
        bars.append({"x": i * 28 + 4, "month": month, "total": totals[i], "segments": segments})
    legend = [{"reason": r, "colour": colours[n % len(colours)]} for n, r in enumerate(forecast.reasons)]
    return render(
        request,
        "web/retention_forecast.html",
        {
            "forecast": forecast,
            "bars": bars,
            "legend": legend,
            "height": CHART_HEIGHT,
            "width": len(bars) * 28 + 8,
            "rows": [
                {"month": m, "counts": [forecast.counts[r][i] for r in forecast.reasons], "total": totals[i]}
                for i, m in enumerate(forecast.months)
            ],
        },
    )
