"""Every field of every tillit model is classified (DESIGN.md rule 6), and the registry names
only fields and categories that exist."""

from __future__ import annotations

import ast
from pathlib import Path

from django.apps import apps

from tillit import policy
from tillit.policy import classification


def tillit_fields() -> set[str]:
    keys = set()
    for model in apps.get_models():
        if not model.__module__.startswith("tillit."):
            continue
        for field in model._meta.get_fields():
            if field.auto_created and not field.concrete:
                continue  # reverse relations live on the other model
            keys.add(f"{model._meta.app_label}.{model.__name__}.{field.name}")
    return keys


def test_every_model_field_is_classified():
    unclassified = sorted(tillit_fields() - set(classification.FIELDS))
    assert unclassified == [], f"classify these in tillit/policy/classification.py: {unclassified}"


def test_the_registry_lists_no_field_that_does_not_exist():
    stale = sorted(set(classification.FIELDS) - tillit_fields())
    assert stale == []


def test_every_classified_category_is_a_category_of_the_policy():
    assert classification.unknown_categories(set(policy.current().categories)) == []


def test_links_to_a_person_are_foreign_keys_to_person():
    person = apps.get_model("people", "Person")
    for model_key, field_name in classification.subject_links():
        field = apps.get_model(model_key)._meta.get_field(field_name)
        assert field.related_model is person, f"{model_key}.{field_name} is marked SUBJECT"


def test_the_rulebook_touches_no_database_and_no_clock():
    """DESIGN.md: tillit/policy is pure. (import-linter cannot forbid parts of Django.)"""
    forbidden = ("django.db", "django.utils.timezone", "datetime.datetime.now")
    for path in (Path(__file__).resolve().parents[2] / "tillit" / "policy").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(forbidden[:2]), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(forbidden[:2]), f"{path.name} imports {alias.name}"
            if isinstance(node, ast.Attribute) and node.attr in {"now", "today", "utcnow"}:
                raise AssertionError(f"{path.name} reads the clock")
