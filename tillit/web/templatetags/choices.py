"""``{{ value|choice:"app_label.Model.field" }}``: the word for a stored choice (a status, a
kind, a channel) in the page's language, from the model field's own choices; the one home of
those words is the model. An unknown value is shown as it is."""

from __future__ import annotations

from functools import cache
from typing import Any

from django import template
from django.apps import apps

register = template.Library()


@cache
def _labels(path: str) -> dict[str, Any]:
    model_path, _, field = path.rpartition(".")
    model = apps.get_model(model_path)
    return {str(value): label for value, label in model._meta.get_field(field).flatchoices}


@register.filter
def choice(value: Any, path: str) -> Any:
    return _labels(path).get(str(value), value)
