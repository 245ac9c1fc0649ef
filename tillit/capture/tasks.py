"""Background tasks of capture; they only call services."""

from __future__ import annotations

import time

from django.utils import timezone
from django_tasks import task

from tillit.capture import services, visits
from tillit.core.actors import Actor


@task()
def sweep_raw_visits() -> dict[str, int]:
    """The daily job for site visits (§4): end the links of people who withdrew their statistics
    consent (with the visits recorded under them), count the finished days, then delete the raw
    visits past the policy's ``retention.raw_visits`` months."""
    actor = Actor.system("daily-visits")
    unlinked = visits.unlink_withdrawn(actor=actor, now=timezone.now())
    result = visits.sweep_raw_visits(actor=actor, now=timezone.now())
    return {"unlinked": unlinked, "days_counted": result.days_counted, "deleted": result.deleted}


# How long one drain task keeps draining before it ends (the next submission asks for another).
DRAIN_TASK_SECONDS = 60.0


@task()
def drain_form_intake() -> dict[str, int]:
    """Apply the queued form submissions (``TILLIT_FORM_INTAKE=queued``) until the intake is
    empty or a minute has passed. Enqueued by the public path when no drain task it asked for is
    still waiting; ``tillit capture drain`` does the same as a long-running process."""
    started = time.monotonic()
    applied = 0
    while time.monotonic() - started < DRAIN_TASK_SECONDS:
        n = services.process_intake(actor=services.SUBMITTER, now=timezone.now())
        applied += n
        if n == 0:
            break
    return {"applied": applied}
