"""Background tasks of the consent app; they only call services (and send the mail)."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from tillit.consent import mail, services
from tillit.core.actors import Actor


@task()
def inform_of_new_purposes(person_ids: list[int], notice_version_id: int) -> dict[str, int]:
    """Send the updated notice to each person (in their language) and record it (§14). Each
    email is claimed first, with the rule asked again (``services.claim_notice_email``):
    someone erased, suppressed or already sent this version gets nothing, and two runs at
    once (or a retried task) mail nobody twice. A run that dies after sending leaves the
    claim; the email then goes again after the claim's lease, with the same Message-ID."""
    actor = Actor.system("notice-update")
    sent = skipped = 0
    for person_id in person_ids:
        claim = services.claim_notice_email(
            now=timezone.now(), person_id=person_id, notice_version_id=notice_version_id
        )
        if claim is None:
            skipped += 1
            continue
        message = mail.notice_update_message(
            email=claim.email,
            name=claim.name,
            language=claim.language,
            pseudonym=claim.pseudonym,
            purposes=claim.purposes,
        )
        message.extra_headers["Message-ID"] = claim.message_id
        message.send()
        services.record_notice_delivery(
            actor=actor, now=timezone.now(), person_id=person_id, notice_version_id=notice_version_id
        )
        sent += 1
    return {"sent": sent, "skipped": skipped}
