"""Values for a person to read, in the page's language (issue 25): moments in the controller's
time zone and the language's own date format (never an ISO timestamp), and the policy file's
free text (a legal basis, a processor's task) from the ``policy`` catalogue.

``{{ value|local_time }}``, ``{{ value|local_date }}`` take a datetime, a date or the ISO text
the JSON answers carry; anything else is returned as it is. ``{{ text|policy_text }}``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import template
from django.utils import formats, translation

from tillit.policy.retention import CONTROLLER_TIME_ZONE

register = template.Library()

ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CODE = re.compile(r"^([a-z][a-z0-9]*(_[a-z0-9]+)*|[A-Z]{2}|\*)$")
# A moment written as people in each language write it: "3 december 2026 kl. 10.04" (sv),
# "3. desember 2026 kl. 10.04" (nb); other languages use Django's DATETIME_FORMAT.
MOMENT_FORMATS = {"sv": r"j F Y \k\l. H.i", "nb": r"j. F Y \k\l. H.i"}


def as_moment(value: Any) -> dt.datetime | dt.date | None:
    if isinstance(value, dt.datetime | dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if ISO_DAY.match(text):
            return dt.date.fromisoformat(text)
        if ISO_MOMENT.match(text):
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


@register.filter
def local_time(value: Any) -> Any:
    moment = as_moment(value)
    if moment is None:
        return value
    if not isinstance(moment, dt.datetime):
        return formats.date_format(moment, "DATE_FORMAT")
    local = moment.astimezone(CONTROLLER_TIME_ZONE)
    language = (translation.get_language() or "en").split("-")[0]
    return formats.date_format(local, MOMENT_FORMATS.get(language, "DATETIME_FORMAT"))


@register.filter
def local_date(value: Any) -> Any:
    moment = as_moment(value)
    if moment is None:
        return value
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(CONTROLLER_TIME_ZONE).date()
    return formats.date_format(moment, "DATE_FORMAT")


@register.filter
def policy_text(value: Any) -> Any:
    """The policy file's free text in the active language (the ``policy`` catalogue)."""
    from tillit.rights.answers import policy_text as translate

    if not isinstance(value, str):
        return value
    return translate(value, (translation.get_language() or "en").split("-")[0])


@register.filter
def is_code(value: Any) -> bool:
    """A stored code rather than words (a key such as ``email`` or ``last_contact_at``, a
    language or country code): the page shows its explanation instead."""
    return isinstance(value, str) and bool(CODE.match(value))


@register.filter
def organisation_number(value: Any) -> Any:
    from tillit import policy
    from tillit.core.identifiers import format_organisation_number

    return format_organisation_number(str(value), policy.current().controller.country) if value else value


@register.filter
def phone(value: Any) -> Any:
    from tillit.core.identifiers import format_phone

    return format_phone(str(value)) if value else value


@register.filter
def actor_reference(label: Any) -> Any:
    """The number in an audit actor's label ("staff:12" -> "12"): which colleague, without the
    code word in front of it."""
    return str(label).rpartition(":")[2] if label else label
