"""A per-source rate limit for the public capture endpoints (spam defence without third
parties), counted in Django's cache: a fixed window per minute and client IP address.

With the default local-memory cache the count is per worker process (an approximation that
still stops a flood); a shared cache (e.g. the database cache) makes it exact across workers.
The limit is ``TILLIT_FORM_RATE_PER_MINUTE`` (0 turns it off, as the load benchmark does).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.conf import settings
from django.core.cache import cache

from tillit.core.errors import DomainError


class RateLimitedError(DomainError):
    code = "rate_limited"
    status = 429


def check_rate(*, scope: str, source: str | None, now: dt.datetime, limit: int | None = None) -> None:
    """Count one request from ``source`` (an IP address) in ``scope``; RateLimitedError once
    the limit for the current minute is passed. The cache key holds a hash, not the address."""
    per_minute = settings.TILLIT_FORM_RATE_PER_MINUTE if limit is None else limit
    if per_minute <= 0:
        return
    digest = hashlib.sha256(f"{scope}:{source or '-'}".encode()).hexdigest()[:32]
    key = f"tillit:rate:{digest}:{int(now.timestamp()) // 60}"
    if cache.add(key, 1, timeout=120):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=120)
            count = 1
    if count > per_minute:
        raise RateLimitedError("too many submissions from your address; please try again in a minute")
