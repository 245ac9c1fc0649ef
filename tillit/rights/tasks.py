"""Background tasks of the rights app; they only call services."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from tillit.core.actors import Actor
from tillit.rights import services


@task()
def send_verification_link(request_id: int) -> bool:
    """Send the verification link of a portal request to the address we hold (if any). The
    argument is the request's id only: no address ever sits in the task queue."""
    return services.send_verification_link(
        actor=Actor.system("rights-verification"), now=timezone.now(), request_id=request_id
    )


@task()
def send_request_email(email_id: int) -> bool:
    """Send one email about a request (the answer, an extension, a refusal), written with the
    request; the argument is its id only (no address sits in the task queue)."""
    return services.send_request_email(now=timezone.now(), email_id=email_id)


@task()
def send_restriction_lift_notice(restriction_id: int) -> bool:
    """Tell a person their restriction is being lifted, then lift it (GDPR art. 18(3)); the
    argument is the restriction's id only."""
    from tillit.people.restrictions import send_lift_notice

    return send_lift_notice(now=timezone.now(), restriction_id=restriction_id)


@task()
def expire_unverified_requests() -> int:
    """Daily: expire requests never verified, and send any request email (and any notice of a
    lifted restriction) a crashed process left unsent."""
    from tillit.people.restrictions import send_due_lift_notices

    services.send_due_emails(now=timezone.now())
    send_due_lift_notices(now=timezone.now())
    return services.expire_requests(actor=Actor.system("rights-expiry"), now=timezone.now())
