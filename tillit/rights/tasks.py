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
def expire_unverified_requests() -> int:
    return services.expire_requests(actor=Actor.system("rights-expiry"), now=timezone.now())
