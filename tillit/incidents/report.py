"""The words of the 72-hour clock and the report to the supervisory authority (art. 33(3)),
as HTML (the staff page and the PDF share one template) and PDF (weasyprint)."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _


def _span(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 0), 3600)
    return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": rest // 60}


def clock_words(incident: dict[str, Any]) -> str:
    """What the clock says, e.g. "47 h 12 min left to notify Datatilsynet" or "Overdue by 3 h 0 min"."""
    state = incident["clock"]
    if state == "running":
        return _("%(span)s left to notify the supervisory authority") % {"span": _span(incident["time_left_seconds"])}
    if state == "overdue":
        return _("Overdue by %(span)s: the supervisory authority has not been notified") % {
            "span": _span(incident["late_by_seconds"])
        }
    if state == "not_required":
        return _("Not notified: the breach is unlikely to result in a risk to people (reasons recorded)")
    if state == "notified_late":
        return _("Notified %(span)s after the deadline") % {"span": _span(incident["late_by_seconds"])}
    return _("Notified within the 72 hours")


def render_html(report: dict[str, Any], *, language: str) -> str:
    with translation.override(language):
        return render_to_string(
            "incidents/report.html", {"report": report, "clock": clock_words(report), "standalone": True}
        )


def render_pdf(report: dict[str, Any], *, language: str) -> bytes:
    import logging

    from weasyprint import HTML  # imported here: it loads pango, which only this needs

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return HTML(string=render_html(report, language=language)).write_pdf()  # type: ignore[no-any-return]
