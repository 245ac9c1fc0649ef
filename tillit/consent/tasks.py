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


@task()
def send_indirect_notices() -> dict[str, int]:
    """The daily GDPR art. 14 job (§4, §6): record who was obtained from an indirect source
    (exempt, or due), then send each due notice: claimed (committed), re-checked, sent outside
    any transaction with a fixed Message-ID, recorded. A failed send gives the claim back."""
    from tillit.consent import indirect

    actor = Actor.system("art14-notice")
    counts = indirect.record_due(now=timezone.now())
    sent = failed = unreachable = 0
    after = 0
    while batch := indirect.due_batch(now=timezone.now(), after=after):
        after = batch[-1]
        for notice_id in batch:
            if not indirect.claim(notice_id=notice_id, now=timezone.now()):
                continue  # another worker has it
            found = indirect.recipient(notice_id=notice_id)
            if found is None:
                indirect.release(notice_id=notice_id)
                unreachable += 1
                continue
            message = mail.indirect_notice_message(
                email=found.email,
                name=found.name,
                language=found.language,
                pseudonym=found.pseudonym,
                source=found.source,
                obtained_at=found.obtained_at,
                categories=found.categories,
                message_id=indirect.message_id(notice_id=notice_id),
            )
            try:
                message.send()
            except OSError:  # the mail server refused or was unreachable: try again next time
                indirect.release(notice_id=notice_id)
                failed += 1
                continue
            indirect.mark_sent(actor=actor, now=timezone.now(), notice_id=notice_id, language=found.language)
            sent += 1
    return {**counts, "sent": sent, "failed": failed, "unreachable": unreachable}


@task()
def ask_to_renew_consents() -> dict[str, int]:
    """The daily consent-lifetime job (§5, ``[consent_lifetime]``): record each consent by
    email that lapses within the policy's days (once per giving), then send each due email:
    claimed with the rule asked again under the person's lock (committed), sent outside any
    transaction with a fixed Message-ID, recorded. A failed send gives the claim back."""
    from tillit.consent import renewals

    actor = Actor.system("consent-renewal")
    recorded = renewals.record_due(now=timezone.now())
    sent = failed = skipped = 0
    after = 0
    while batch := renewals.due_batch(now=timezone.now(), after=after):
        after = batch[-1]
        for renewal_id in batch:
            claim = renewals.claim(renewal_id=renewal_id, now=timezone.now())
            if claim is None:
                skipped += 1  # another worker has it, or it is no longer due
                continue
            message = mail.renewal_message(
                email=claim.email,
                name=claim.name,
                language=claim.language,
                pseudonym=claim.pseudonym,
                purpose=claim.purpose,
                message_id=claim.message_id,
            )
            try:
                message.send()
            except OSError:  # the mail server refused or was unreachable: try again next time
                renewals.release(renewal_id=renewal_id)
                failed += 1
                continue
            renewals.mark_sent(actor=actor, now=timezone.now(), renewal_id=renewal_id, language=claim.language)
            sent += 1
    return {"recorded": recorded, "sent": sent, "failed": failed, "skipped": skipped}
