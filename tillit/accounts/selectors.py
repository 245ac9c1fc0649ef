"""Who is acting: actors for staff sessions and API tokens."""

from __future__ import annotations

import datetime as dt
import hmac

from tillit.accounts.models import ApiClient, User
from tillit.accounts.services import TOKEN_PREFIX, hash_token
from tillit.core.actors import Actor


def actor_for_user(user: User) -> Actor:
    return Actor(kind="staff", role=user.role or None, user_id=user.pk, label=f"staff:{user.pk}")


def actor_for_token(token: str, *, now: dt.datetime) -> Actor | None:
    """The actor behind an API token, or None if it is unknown, revoked or its owner is
    inactive. Records the time of use at most once a minute."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    digest = hash_token(token)
    client = ApiClient.objects.select_related("user").filter(key_hash=digest).first()
    if client is None or not hmac.compare_digest(client.key_hash, digest):
        return None
    if client.revoked_at is not None or not client.user.is_active:
        return None
    if client.last_used_at is None or (now - client.last_used_at) > dt.timedelta(minutes=1):
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
    return Actor(kind="api_client", role=client.user.role or None, user_id=client.user_id, label=f"api:{client.pk}")


def staff_user_by_username(username: str) -> User | None:
    return User.objects.filter(username=username).first()


def api_clients() -> list[ApiClient]:
    return list(ApiClient.objects.select_related("user").order_by("pk"))
