"""The rulebook: the policy file as frozen objects, and pure functions that decide.

Nothing in this package touches the database, the clock or the network; "now" is always an
argument. ``current()`` returns the policy loaded (once) from ``settings.TILLIT_POLICY_PATH``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tillit.policy.loader import PolicyError, load_policy
from tillit.policy.schema import Policy

__all__ = ["Policy", "PolicyError", "current", "load_policy"]


@lru_cache(maxsize=1)
def _load(path: str) -> Policy:
    return load_policy(Path(path))


def current() -> Policy:
    """The policy in force, loaded from the configured file on first use."""
    from django.conf import settings

    return _load(str(settings.TILLIT_POLICY_PATH))


def reset() -> None:
    """Forget the loaded policy (tests that swap the policy file call this)."""
    _load.cache_clear()
