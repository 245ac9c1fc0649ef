"""Staff accounts and API clients."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import smtplib

from django.apps import apps
from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit import policy
from tillit.accounts import mail
from tillit.accounts.models import ApiClient, MailboxReview, MailboxReviewReminder, StaffHandover, User
from tillit.audit import services as audit
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, NotFoundError, ValidationError
from tillit.policy import staff as staff_rules

TOKEN_PREFIX = "tlt_"
logger = logging.getLogger(__name__)


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


# --- the second factor (TOTP, RFC 6238) ------------------------------------------------------


def totp_device_for_enrolment(*, user: User) -> TOTPDevice:
    """The unconfirmed TOTP device a staff member is enrolling (created on first call)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="tillit", confirmed=False)
    return device


def has_confirmed_totp(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def check_totp(*, user: User, code: str) -> bool:
    """Whether ``code`` is a valid current code of the user's confirmed device."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit():
        return False
    return any(device.verify_token(code) for device in TOTPDevice.objects.filter(user=user, confirmed=True))


@transaction.atomic
def confirm_totp_enrolment(*, actor: Actor, now: dt.datetime, user: User, code: str) -> TOTPDevice | None:
    """Confirm the device being enrolled if ``code`` is valid for it; None if not."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    code = (code or "").strip().replace(" ", "")
    if device is None or not code.isdigit() or not device.verify_token(code):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit.record(actor=actor, now=now, action="enrol_totp", subject_type="staff", subject_id=user.pk)
    return device


# --- leaving staff (§16) -----------------------------------------------------------------------


def end_sessions(*, user_id: int, now: dt.datetime) -> int:
    """Delete every live session of the user (staff sessions are few; each is decoded)."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=now).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user_id):
            session.delete()
            ended += 1
    return ended


@transaction.atomic
def deactivate_staff(*, actor: Actor, now: dt.datetime, user_id: int) -> int:
    """Close a staff account: it can no longer sign in, its API tokens stop working and every
    session it has ends at once. Returns the number of sessions ended."""
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFoundError("no such staff account")
    if actor.user_id == user.pk:
        raise ValidationError("you cannot close your own account", field="user")
    user.is_active = False
    user.save(update_fields=["is_active"])
    ApiClient.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    ended = end_sessions(user_id=user.pk, now=now)
    audit.record(actor=actor, now=now, action="deactivate", subject_type="staff", subject_id=user.pk)
    return ended


@transaction.atomic
def offboard_staff(*, actor: Actor, now: dt.datetime, user_id: int, successor_id: int) -> StaffHandover:
    """A leaver's account is closed and their person records, logged emails and open dialogues
    are handed to a colleague (§16: "relevant emails will normally be transferred to
    colleagues"). The hand-over is recorded with counts. (There is no task model yet; when one
    comes, its open tasks move here too.)"""
    from tillit.people.models import Interaction, Person  # same layer, imported where used

    if user_id == successor_id:
        raise ValidationError("the successor must be someone else", field="successor")
    successor = User.objects.filter(pk=successor_id, is_active=True).first()
    if successor is None:
        raise ValidationError("no such active colleague", field="successor")
    leaver = User.objects.filter(pk=user_id).first()
    if leaver is None:
        raise NotFoundError("no such staff account")
    # The open dialogues with partners they look after (the sharing app's table, read through
    # the app registry: accounts sits below sharing).
    dialogue = apps.get_model("sharing", "Dialogue")
    looked_after = Q(owner_id=leaver.pk) | Q(owner_id__isnull=True, opened_by_id=leaver.pk)
    counts = {
        "people": Person.objects.filter(owner=leaver).update(owner=successor),
        "emails": Interaction.objects.filter(staff=leaver, kind="email").update(staff=successor),
        "open_dialogues": dialogue.objects.filter(looked_after, closed_at__isnull=True).update(owner_id=successor.pk),
    }
    counts["sessions_ended"] = deactivate_staff(actor=actor, now=now, user_id=leaver.pk)
    handover = StaffHandover.objects.create(leaver=leaver, successor=successor, handed_over_at=now, counts=counts)
    audit.record(
        actor=actor, now=now, action="handover", subject_type="staff", subject_id=leaver.pk, fields=sorted(counts)
    )
    return handover


@transaction.atomic
def confirm_mailbox_review(*, actor: Actor, now: dt.datetime) -> MailboxReview:
    """The signed-in staff member confirms they reviewed and cleaned their mailbox (§16)."""
    if actor.user_id is None:
        raise ValidationError("only a staff member can confirm their own mailbox review")
    review = MailboxReview.objects.create(user_id=actor.user_id, reviewed_at=now)
    audit.record(actor=actor, now=now, action="mailbox_review", subject_type="staff", subject_id=actor.user_id)
    return review


def remind_mailbox_reviews(*, actor: Actor, now: dt.datetime) -> int:
    """Email every active staff member whose mailbox review is due within the policy's reminder
    period (or overdue) and who has not been reminded of that due date (§16). Each reminder is
    claimed first (a committed row, unique per staff member and due date), re-checked (still
    active, still not reviewed) and sent outside any transaction; a claim whose email failed is
    sent again on the next run. Returns how many emails went. Staff are few: one query for
    them, the rule per person."""
    current = policy.current()
    staff = (
        User.objects.filter(is_active=True)
        .exclude(email="")
        .annotate(last=Max("mailbox_reviews__reviewed_at"))
        .values_list("pk", "date_joined", "last")
    )
    sent = 0
    for user_id, joined_at, last in staff:
        state = staff_rules.mailbox_review_state(current, last_review_at=last, joined_at=joined_at, now=now)
        if not state.is_reminder_due:
            continue
        reminder = _claim_reminder(actor=actor, now=now, user_id=user_id, due_at=state.due_at)
        if reminder is None:
            continue
        email = _still_due(user_id=user_id, due_at=state.due_at, now=now)
        if email is None:
            continue
        try:
            mail.mailbox_review_reminder(email=email, due_at=state.due_at, reminder_id=reminder.pk).send()
        except (OSError, smtplib.SMTPException):
            # The claim stays unsent: the next run tries again. Nobody else waits on this one.
            logger.warning("mailbox review reminder %s not sent; retried on the next run", reminder.pk)
            continue
        MailboxReviewReminder.objects.filter(pk=reminder.pk).update(sent_at=now)
        sent += 1
    return sent


def _claim_reminder(
    *, actor: Actor, now: dt.datetime, user_id: int, due_at: dt.datetime
) -> MailboxReviewReminder | None:
    """The reminder row for this due date, newly claimed or left unsent by a failed run; None
    when it was sent already."""
    try:
        with transaction.atomic():
            reminder = MailboxReviewReminder.objects.create(user_id=user_id, due_at=due_at, claimed_at=now)
            audit.record(actor=actor, now=now, action="remind", subject_type="staff", subject_id=user_id)
            return reminder
    except IntegrityError:
        return MailboxReviewReminder.objects.filter(user_id=user_id, due_at=due_at, sent_at__isnull=True).first()


def _still_due(*, user_id: int, due_at: dt.datetime, now: dt.datetime) -> str | None:
    """The staff member's address if they are still active and the review is still due then."""
    row = (
        User.objects.filter(pk=user_id, is_active=True)
        .annotate(last=Max("mailbox_reviews__reviewed_at"))
        .values("email", "date_joined", "last")
        .first()
    )
    if row is None or not row["email"]:
        return None
    state = staff_rules.mailbox_review_state(
        policy.current(), last_review_at=row["last"], joined_at=row["date_joined"], now=now
    )
    return str(row["email"]) if state.due_at == due_at else None


# --- Sign-ins and refusals on the audit chain (checklist 61) ----------------------------------

SIGN_IN_OUTCOMES = ("signed_in", "failed", "locked_out", "signed_out")


def record_sign_in(*, now: dt.datetime, user_id: int | None, outcome: str) -> None:
    """A sign-in, a failed attempt (wrong password or code), a lock-out or a sign-out, on the
    audit chain: who (the staff user, if the username was one) and what, never the username
    typed or the password. A failure is recorded by the system, the user is its subject."""
    from tillit.accounts.selectors import actor_for_user  # (the selectors import this module)

    if outcome not in SIGN_IN_OUTCOMES:
        raise ValidationError(f"unknown sign-in outcome {outcome!r}", field="outcome")
    user = User.objects.filter(pk=user_id).first() if user_id is not None else None
    acting = outcome in ("signed_in", "signed_out") and user is not None
    actor = actor_for_user(user) if acting and user is not None else Actor.system("sign-in")
    audit.record(
        actor=actor, now=now, action=f"sign_in_{outcome}", subject_type="staff", subject_id=user.pk if user else None
    )


def record_refusal(*, actor: Actor, now: dt.datetime, where: str) -> None:
    """A staff member or API client was refused something its role may not do (403): ``where``
    is the route's name, never a value from the request."""
    audit.record(actor=actor, now=now, action="refused", subject_type="route", subject_id=None, fields=[where[:100]])
