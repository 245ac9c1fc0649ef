"""Background tasks of the breach register; they only call services (and send the mail)."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from tillit.core.actors import Actor
from tillit.incidents import mail, services


@task()
def send_breach_notices(incident_id: int) -> dict[str, int]:
    """Send the art. 34 notice to each affected person asked for: claimed (committed, under
    the person's lock), re-checked at the attempt (erased: nothing; no address: recorded as
    unreachable), sent outside any transaction with the recorded Message-ID, recorded as sent.
    A refused send gives the claim back; a run that dies after sending leaves the claim, and
    the notice goes again after the lease with the same Message-ID."""
    actor = Actor.system("breach-notice")
    incident = services.notice_facts(incident_id=incident_id)
    if incident is None:
        return {"sent": 0, "failed": 0, "skipped": 0}
    sent = failed = skipped = 0
    after = 0
    while batch := services.due_notices(incident_id=incident_id, now=timezone.now(), after=after):
        after = batch[-1]
        for affected_id in batch:
            claim = services.claim_notice(now=timezone.now(), affected_id=affected_id)
            if claim is None:
                skipped += 1
                continue
            message = mail.breach_notice_message(
                email=claim.email,
                name=claim.name,
                language=claim.language,
                incident=incident,
                message_id=claim.message_id,
            )
            try:
                message.send()
            except OSError:  # the mail server refused or was unreachable: try again next run
                services.release_notice(affected_id=affected_id)
                failed += 1
                continue
            services.record_notice_sent(actor=actor, now=timezone.now(), affected_id=affected_id)
            sent += 1
    return {"sent": sent, "failed": failed, "skipped": skipped}
