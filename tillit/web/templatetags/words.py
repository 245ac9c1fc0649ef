"""``{{ value|word:"retention_reason" }}``: the word for a fixed value of the vocabulary in the
page's language, from its one home in ``tillit.core.words``. An unknown value is shown as it is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template
from django.utils.functional import Promise

from tillit.core.words import RETENTION_REASON_WORDS

register = template.Library()

_TABLES: Mapping[str, Mapping[str, Promise]] = {"retention_reason": RETENTION_REASON_WORDS}


@register.filter
def word(value: Any, table: str) -> Any:
    found = _TABLES[table].get(str(value))
    return str(found) if found is not None else value
