"""Views of the staff UI. They translate: parse input, build the actor, call one service or
selector, render."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tillit import policy


def home(request: HttpRequest) -> HttpResponse:
    """The front page: what tillit is and where to go."""
    current = policy.current()
    return render(
        request,
        "web/home.html",
        {"controller": current.controller, "roles": current.roles, "purposes": current.purposes},
    )
