"""Who is acting: actors for staff sessions and API tokens."""

from __future__ import annotations

import datetime as dt
import hmac

from django.db.models import Max

from tillit import policy
from tillit.accounts.models import ApiClient, MailboxReview, User
from tillit.accounts.services import TOKEN_PREFIX, hash_token
from tillit.core.actors import Actor
from tillit.core.errors import PermissionDeniedError
from tillit.policy import purposes as purpose_rules
from tillit.policy import staff as staff_rules


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


def last_mailbox_review(user_id: int) -> dt.datetime | None:
    return MailboxReview.objects.filter(user_id=user_id).aggregate(last=Max("reviewed_at"))["last"]


def mailbox_review_status(
    *, user_id: int, now: dt.datetime
) -> tuple[dt.datetime | None, staff_rules.MailboxReviewState]:
    """The staff member's last review and when the next is due (§16; ``tillit.policy.staff``)."""
    row = (
        User.objects.filter(pk=user_id).annotate(last=Max("mailbox_reviews__reviewed_at")).values("last", "date_joined")
    )
    found = row.get()
    state = staff_rules.mailbox_review_state(
        policy.current(), last_review_at=found["last"], joined_at=found["date_joined"], now=now
    )
    return found["last"], state


def mailbox_reviews(*, actor: Actor, now: dt.datetime) -> list[dict[str, object]]:
    """Every active staff member with the date of their last mailbox review and whether a
    review is overdue, for the roles the policy gives the audit log (the privacy officer)."""
    if not purpose_rules.may_use_tool(policy.current(), actor.role, "audit_log"):
        raise PermissionDeniedError("your role may not see the mailbox reviews")
    rows = User.objects.filter(is_active=True).annotate(last=Max("mailbox_reviews__reviewed_at")).order_by("username")
    current = policy.current()
    result: list[dict[str, object]] = []
    for u in rows:
        state = staff_rules.mailbox_review_state(current, last_review_at=u.last, joined_at=u.date_joined, now=now)
        result.append(
            {
                "id": u.pk,
                "username": u.username,
                "role": u.role,
                "last": u.last,
                "due_at": state.due_at,
                "overdue": state.is_overdue,
            }
        )
    return result


def staff_accounts(*, actor: Actor) -> list[User]:
    """Staff accounts, for the roles the policy gives the staff_accounts tool."""
    if not purpose_rules.may_use_tool(policy.current(), actor.role, "staff_accounts"):
        raise PermissionDeniedError("your role may not manage staff accounts")
    return list(User.objects.order_by("-is_active", "username"))
