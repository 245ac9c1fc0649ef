"""Staff accounts and API clients."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.db import transaction

from tillit import policy
from tillit.accounts.models import ApiClient, User
from tillit.audit import services as audit
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, NotFoundError, ValidationError

TOKEN_PREFIX = "tlt_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_role(role: str) -> None:
    roles = policy.current().roles
    if role not in roles:
        raise ValidationError(f"unknown role {role!r} (expected one of: {', '.join(roles)})", field="role")


@transaction.atomic
def create_staff_user(
    *, actor: Actor, now: dt.datetime, username: str, role: str, password: str, email: str = ""
) -> User:
    """A staff account with a role from the policy file (§10)."""
    _check_role(role)
    if User.objects.filter(username=username).exists():
        raise ConflictError("a staff account with this username already exists", field="username")
    user = User(username=username, role=role, email=email, is_staff=False, date_joined=now)
    user.set_password(password)
    user.save()
    audit.record(actor=actor, now=now, action="create", subject_type="staff", subject_id=user.pk, fields=["role"])
    return user


@transaction.atomic
def set_staff_role(*, actor: Actor, now: dt.datetime, user_id: int, role: str) -> User:
    _check_role(role)
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFoundError("no such staff account")
    user.role = role
    user.save(update_fields=["role"])
    audit.record(actor=actor, now=now, action="update", subject_type="staff", subject_id=user.pk, fields=["role"])
    return user


@transaction.atomic
def create_api_client(*, actor: Actor, now: dt.datetime, user_id: int, name: str) -> tuple[ApiClient, str]:
    """A new API token acting for ``user_id``. Returns the client and the token, which is not
    stored and cannot be shown again."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFoundError("no such active staff account")
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("a client name is 1 to 100 characters", field="name")
    if ApiClient.objects.filter(user=user, name=name).exists():
        raise ConflictError("this staff member already has an API client with that name", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient.objects.create(
        user=user, name=name, key_prefix=token[:12], key_hash=hash_token(token), created_at=now
    )
    audit.record(actor=actor, now=now, action="create", subject_type="api_client", subject_id=client.pk)
    return client, token


@transaction.atomic
def revoke_api_client(*, actor: Actor, now: dt.datetime, client_id: int) -> None:
    client = ApiClient.objects.select_for_update().filter(pk=client_id).first()
    if client is None:
        raise NotFoundError("no such API client")
    if client.revoked_at is None:
        client.revoked_at = now
        client.save(update_fields=["revoked_at"])
        audit.record(actor=actor, now=now, action="revoke", subject_type="api_client", subject_id=client.pk)
