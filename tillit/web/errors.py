"""What a request gets when the server cannot answer it.

When the database is unreachable (PostgreSQL restarting, a network cut), the answer is a clear
503 with ``Retry-After``, not a 500: nothing was written, the client may try again, and the
service resumes by itself once the database is back (connections are health-checked before
reuse). The page is built without the database or templates that might need it.
"""

from __future__ import annotations

import json
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.defaults import server_error as django_server_error

RETRY_AFTER_SECONDS = 5


def database_unavailable(request: HttpRequest) -> HttpResponse:
    message = _("The service is briefly unavailable. Nothing was saved; please try again in a moment.")
    if request.path.startswith("/api/"):
        body = {
            "code": "unavailable",
            "message": "the database is unavailable; nothing was saved, try again",
            "field": None,
        }
        response = HttpResponse(json.dumps(body), status=503, content_type="application/json")
    else:
        page = f"<!doctype html><meta charset=utf-8><title>503</title><h1>503</h1><p>{message}</p>"
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a database outage becomes 503; anything else is Django's 500 page."""
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)):
        return database_unavailable(request)
    return django_server_error(request)
