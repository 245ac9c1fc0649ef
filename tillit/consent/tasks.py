"""Background tasks of the consent app; they only call services (and send the mail)."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from tillit.consent import mail, selectors, services
from tillit.core.actors import Actor
from tillit.people.models import Person


@task()
def inform_of_new_purposes(person_ids: list[int], notice_version_id: int) -> dict[str, int]:
    """Send the updated notice to each person (in their language) and record it (§14). A
    person already sent this version is skipped, so a retried task mails nobody twice."""
    actor = Actor.system("notice-update")
    sent = skipped = 0
    for person in Person.objects.filter(pk__in=person_ids).only(
        "pk", "pseudonym", "name", "email", "language", "notice_version_id"
    ):
        if person.notice_version_id == notice_version_id or not person.email:
            skipped += 1
            continue
        missing = selectors.missing_purposes(person.notice_version_id)
        message = mail.notice_update_message(
            email=person.email,
            name=person.name,
            language=person.language,
            pseudonym=str(person.pseudonym),
            purposes=missing,
        )
        message.send()
        services.record_notice_delivery(
            actor=actor, now=timezone.now(), person_id=person.pk, notice_version_id=notice_version_id
        )
        sent += 1
    return {"sent": sent, "skipped": skipped}
