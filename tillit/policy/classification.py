"""Which column holds which personal data category (DESIGN.md rule 6).

Every field of every tillit model is listed here as ``"app_label.Model.field"``, classified
as one of the policy's data categories (§4), or as one of the markers below. A test fails on
a field that is not listed, so a new column cannot slip in unclassified. Erasure, the access
export and the purpose projections of the read gate are all driven by this registry.

Markers:
- ``SUBJECT``: the link from a row to the person it is about (a foreign key to Person);
  erasure deletes every row that links to the erased person.
- ``NOT_PERSONAL``: ids, timestamps, codes and flags that say nothing about a person alone.
- ``STAFF``: data about our own employees (governed by their employment, not this policy).
- ``RETENTION``: the computed deadline and reason; shown to the person, not a category.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

SUBJECT: Final = "<subject>"
NOT_PERSONAL: Final = "<not personal>"
STAFF: Final = "<staff>"
RETENTION: Final = "<retention>"
MARKERS: Final = (SUBJECT, NOT_PERSONAL, STAFF, RETENTION)

FIELDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        # core
        "tillit_core.ScheduledRun.id": NOT_PERSONAL,
        "tillit_core.ScheduledRun.job": NOT_PERSONAL,
        "tillit_core.ScheduledRun.day": NOT_PERSONAL,
        "tillit_core.ScheduledRun.enqueued_at": NOT_PERSONAL,
        "tillit_core.ScheduledRun.task_id": NOT_PERSONAL,
        # accounts
        "accounts.User.id": NOT_PERSONAL,
        "accounts.User.password": STAFF,
        "accounts.User.last_login": STAFF,
        "accounts.User.is_superuser": STAFF,
        "accounts.User.username": STAFF,
        "accounts.User.first_name": STAFF,
        "accounts.User.last_name": STAFF,
        "accounts.User.email": STAFF,
        "accounts.User.is_staff": STAFF,
        "accounts.User.is_active": STAFF,
        "accounts.User.date_joined": STAFF,
        "accounts.User.role": STAFF,
        "accounts.User.groups": STAFF,
        "accounts.User.user_permissions": STAFF,
        "accounts.ApiClient.id": NOT_PERSONAL,
        "accounts.ApiClient.user": STAFF,
        "accounts.ApiClient.name": NOT_PERSONAL,
        "accounts.ApiClient.key_prefix": NOT_PERSONAL,
        "accounts.ApiClient.key_hash": NOT_PERSONAL,
        "accounts.ApiClient.created_at": NOT_PERSONAL,
        "accounts.ApiClient.last_used_at": NOT_PERSONAL,
        "accounts.ApiClient.revoked_at": NOT_PERSONAL,
        "accounts.StaffHandover.id": NOT_PERSONAL,
        "accounts.StaffHandover.leaver": STAFF,
        "accounts.StaffHandover.successor": STAFF,
        "accounts.StaffHandover.handed_over_at": STAFF,
        "accounts.StaffHandover.counts": NOT_PERSONAL,
        "accounts.MailboxReview.id": NOT_PERSONAL,
        "accounts.MailboxReview.user": STAFF,
        "accounts.MailboxReview.reviewed_at": STAFF,
        # audit: ids and field names only
        "audit.AuditEntry.id": NOT_PERSONAL,
        "audit.AuditEntry.at": NOT_PERSONAL,
        "audit.AuditEntry.actor_kind": NOT_PERSONAL,
        "audit.AuditEntry.actor_label": STAFF,
        "audit.AuditEntry.actor_user_id": STAFF,
        "audit.AuditEntry.actor_role": STAFF,
        "audit.AuditEntry.action": NOT_PERSONAL,
        "audit.AuditEntry.purpose": NOT_PERSONAL,
        "audit.AuditEntry.subject_type": NOT_PERSONAL,
        "audit.AuditEntry.subject_id": NOT_PERSONAL,
        "audit.AuditEntry.fields": NOT_PERSONAL,
        "audit.AuditEntry.sequence": NOT_PERSONAL,
        "audit.AuditEntry.prev_hash": NOT_PERSONAL,
        "audit.AuditEntry.hash": NOT_PERSONAL,
        # people
        "people.Organization.id": NOT_PERSONAL,
        "people.Organization.org_number": "organisation",
        "people.Organization.name": "organisation",
        "people.Organization.industry_code": "industry",
        "people.Organization.industry_code_version": NOT_PERSONAL,
        "people.Organization.street": "business_address",
        "people.Organization.postcode": "business_address",
        "people.Organization.city": "business_address",
        "people.Organization.country": "business_address",
        "people.Organization.created_at": NOT_PERSONAL,
        "people.Organization.updated_at": NOT_PERSONAL,
        "people.Person.id": NOT_PERSONAL,
        "people.Person.pseudonym": NOT_PERSONAL,
        "people.Person.name": "name",
        "people.Person.email": "email",
        "people.Person.phone": "phone",
        "people.Person.position": "position",
        "people.Person.organization": "organisation",
        "people.Person.language": "choices",
        "people.Person.owner": STAFF,
        "people.Person.last_contact_at": "correspondence",
        "people.Person.notice_version": "choices",
        "people.Person.retain_until": RETENTION,
        "people.Person.retain_reason": RETENTION,
        "people.Person.created_at": NOT_PERSONAL,
        "people.Person.updated_at": NOT_PERSONAL,
        "people.ProductInterest.id": NOT_PERSONAL,
        "people.ProductInterest.person": SUBJECT,
        "people.ProductInterest.product": "product_interests",
        "people.ProductInterest.status": "product_interests",
        "people.ProductInterest.recorded_at": "product_interests",
        "people.Interaction.id": NOT_PERSONAL,
        "people.Interaction.person": SUBJECT,
        "people.Interaction.kind": "correspondence",
        "people.Interaction.direction": "correspondence",
        "people.Interaction.reached": "correspondence",
        "people.Interaction.occurred_at": "correspondence",
        "people.Interaction.staff": STAFF,
        "people.Interaction.subject": "correspondence",
        "people.Interaction.summary": "correspondence",
        "people.CustomerRelationship.id": NOT_PERSONAL,
        "people.CustomerRelationship.person": SUBJECT,
        "people.CustomerRelationship.started_at": "customer_records",
        "people.CustomerRelationship.ended_at": "customer_records",
        "people.Provenance.id": NOT_PERSONAL,
        "people.Provenance.person": SUBJECT,
        "people.Provenance.organization": NOT_PERSONAL,
        "people.Provenance.field": NOT_PERSONAL,
        "people.Provenance.source": NOT_PERSONAL,
        "people.Provenance.detail": NOT_PERSONAL,
        "people.Provenance.recorded_at": NOT_PERSONAL,
        # The sensitive data guard's quarantine (§16): the held text is the person's correspondence;
        # the findings are kinds, categories and spans, never values.
        "people.QuarantinedText.id": NOT_PERSONAL,
        "people.QuarantinedText.person": SUBJECT,
        "people.QuarantinedText.interaction": NOT_PERSONAL,
        "people.QuarantinedText.source": NOT_PERSONAL,
        "people.QuarantinedText.subject": "correspondence",
        "people.QuarantinedText.text": "correspondence",
        "people.QuarantinedText.findings": NOT_PERSONAL,
        "people.QuarantinedText.created_at": NOT_PERSONAL,
        "people.QuarantinedText.staff": STAFF,
        "people.QuarantinedText.released_at": NOT_PERSONAL,
        "people.QuarantinedText.released_by": STAFF,
        # consent
        "consent.Subscription.id": NOT_PERSONAL,
        "consent.Subscription.person": SUBJECT,
        "consent.Subscription.newsletter": "choices",
        "consent.Subscription.subscribed_at": "choices",
        "consent.Subscription.unsubscribed_at": "choices",
        "consent.ConsentEvent.id": NOT_PERSONAL,
        "consent.ConsentEvent.person": SUBJECT,
        "consent.ConsentEvent.purpose": "choices",
        "consent.ConsentEvent.channel": "choices",
        "consent.ConsentEvent.action": "choices",
        "consent.ConsentEvent.basis": "choices",
        "consent.ConsentEvent.occurred_at": "choices",
        "consent.ConsentEvent.source_kind": "choices",
        "consent.ConsentEvent.source_ref": "choices",
        "consent.ConsentEvent.wording": "choices",
        "consent.ConsentEvent.language": "choices",
        "consent.ConsentEvent.notice_version": "choices",
        "consent.ConsentEvent.evidence_ip": "technical",
        "consent.ConsentEvent.evidence_user_agent": "technical",
        "consent.NoticeDelivery.id": NOT_PERSONAL,
        "consent.NoticeDelivery.person": SUBJECT,
        "consent.NoticeDelivery.notice_version": "choices",
        "consent.NoticeDelivery.sent_at": "choices",
        "consent.NoticeDelivery.channel": "choices",
        "consent.NoticeVersion.id": NOT_PERSONAL,
        "consent.NoticeVersion.digest": NOT_PERSONAL,
        "consent.NoticeVersion.policy_digest": NOT_PERSONAL,
        "consent.NoticeVersion.published_at": NOT_PERSONAL,
        "consent.NoticeVersion.purposes": NOT_PERSONAL,
        "consent.NoticeVersion.texts": NOT_PERSONAL,
        # A keyed hash: recognises an identifier, cannot reveal it (kept to honour an objection).
        "consent.SuppressionEntry.id": NOT_PERSONAL,
        "consent.SuppressionEntry.digest": NOT_PERSONAL,
        "consent.SuppressionEntry.channel": NOT_PERSONAL,
        "consent.SuppressionEntry.reason": NOT_PERSONAL,
        "consent.SuppressionEntry.created_at": NOT_PERSONAL,
        # retention: receipts hold no personal data by design
        "retention.ErasureReceipt.id": NOT_PERSONAL,
        "retention.ErasureReceipt.pseudonym": NOT_PERSONAL,
        "retention.ErasureReceipt.batch": NOT_PERSONAL,
        "retention.ErasureReceipt.erased_at": NOT_PERSONAL,
        "retention.ErasureReceipt.reason": NOT_PERSONAL,
        "retention.ErasureReceipt.rule": NOT_PERSONAL,
        "retention.ErasureReceipt.counts": NOT_PERSONAL,
        "retention.ErasureReceipt.actor_label": STAFF,
        "retention.ErasureReceipt.identifier_digests": NOT_PERSONAL,
        "retention.ErasureNotice.id": NOT_PERSONAL,
        "retention.ErasureNotice.batch": NOT_PERSONAL,
        "retention.ErasureNotice.people": NOT_PERSONAL,
        "retention.ErasureNotice.recipient_kind": NOT_PERSONAL,
        "retention.ErasureNotice.recipient_key": NOT_PERSONAL,
        "retention.ErasureNotice.status": NOT_PERSONAL,
        "retention.ErasureNotice.created_at": NOT_PERSONAL,
        "retention.ErasureNotice.attempts": NOT_PERSONAL,
        "retention.ErasureNotice.acknowledged_at": NOT_PERSONAL,
        # rights: a request outlives the person (no SUBJECT link, see tillit/rights/models.py);
        # it holds the pseudonym and keyed hashes, and free text only while it is open.
        "rights.DataSubjectRequest.id": NOT_PERSONAL,
        "rights.DataSubjectRequest.reference": NOT_PERSONAL,
        "rights.DataSubjectRequest.kind": NOT_PERSONAL,
        "rights.DataSubjectRequest.status": NOT_PERSONAL,
        "rights.DataSubjectRequest.channel": NOT_PERSONAL,
        "rights.DataSubjectRequest.language": NOT_PERSONAL,
        "rights.DataSubjectRequest.received_at": NOT_PERSONAL,
        "rights.DataSubjectRequest.due_on": NOT_PERSONAL,
        "rights.DataSubjectRequest.extended_until": NOT_PERSONAL,
        "rights.DataSubjectRequest.extension_reason": NOT_PERSONAL,
        "rights.DataSubjectRequest.person_pseudonym": NOT_PERSONAL,
        "rights.DataSubjectRequest.email_digest": NOT_PERSONAL,
        "rights.DataSubjectRequest.details": "correspondence",
        "rights.DataSubjectRequest.verification_method": NOT_PERSONAL,
        "rights.DataSubjectRequest.verification_digest": NOT_PERSONAL,
        "rights.DataSubjectRequest.verification_sent_at": NOT_PERSONAL,
        "rights.DataSubjectRequest.verification_expires_at": NOT_PERSONAL,
        "rights.DataSubjectRequest.verified_at": NOT_PERSONAL,
        "rights.DataSubjectRequest.staff_step_reason": NOT_PERSONAL,
        "rights.DataSubjectRequest.objection_purpose": NOT_PERSONAL,
        "rights.DataSubjectRequest.closed_at": NOT_PERSONAL,
        "rights.DataSubjectRequest.refusal_reason": NOT_PERSONAL,
        "rights.DataSubjectRequest.outcome": NOT_PERSONAL,
        "rights.DataSubjectRequest.erasure_receipt_id": NOT_PERSONAL,
        "rights.RequestEvent.id": NOT_PERSONAL,
        "rights.RequestEvent.request": NOT_PERSONAL,
        "rights.RequestEvent.kind": NOT_PERSONAL,
        "rights.RequestEvent.at": NOT_PERSONAL,
        "rights.RequestEvent.actor_label": STAFF,
        "rights.RequestEvent.note": NOT_PERSONAL,
        "rights.CorrectionProposal.id": NOT_PERSONAL,
        "rights.CorrectionProposal.request": NOT_PERSONAL,
        "rights.CorrectionProposal.field": NOT_PERSONAL,
        "rights.CorrectionProposal.proposed_value": "correspondence",
        "rights.CorrectionProposal.status": NOT_PERSONAL,
        "rights.CorrectionProposal.decided_at": NOT_PERSONAL,
        "rights.CorrectionProposal.decision_reason": NOT_PERSONAL,
        "rights.SignedDocument.id": NOT_PERSONAL,
        "rights.SignedDocument.request": NOT_PERSONAL,
        "rights.SignedDocument.uploaded_at": NOT_PERSONAL,
        "rights.SignedDocument.sha256": NOT_PERSONAL,
        "rights.SignedDocument.size": NOT_PERSONAL,
        "rights.SignedDocument.path": NOT_PERSONAL,
        "rights.SignedDocument.result": NOT_PERSONAL,
        "rights.SignedDocument.signer_subject": "name",
        "rights.SignedDocument.signed_at": NOT_PERSONAL,
        "rights.SignedDocument.is_trusted": NOT_PERSONAL,
        "rights.PortalAttempt.id": NOT_PERSONAL,
        "rights.PortalAttempt.at": NOT_PERSONAL,
        "rights.PortalAttempt.email_digest": NOT_PERSONAL,
        "rights.PortalAttempt.source_digest": NOT_PERSONAL,
    }
)


def classify(field_key: str) -> str | None:
    """The category or marker of ``"app.Model.field"``, or None if it is not classified."""
    return FIELDS.get(field_key)


def fields_in_categories(model_key: str, categories: frozenset[str] | set[str]) -> frozenset[str]:
    """The field names of ``"app.Model"`` whose category is one of ``categories``."""
    prefix = model_key + "."
    return frozenset(
        key[len(prefix) :] for key, category in FIELDS.items() if key.startswith(prefix) and category in categories
    )


def personal_fields(model_key: str) -> Mapping[str, str]:
    """Field name -> category for the fields of ``"app.Model"`` that hold a policy category."""
    prefix = model_key + "."
    return {
        key[len(prefix) :]: category
        for key, category in FIELDS.items()
        if key.startswith(prefix) and category not in MARKERS
    }


def subject_links() -> tuple[tuple[str, str], ...]:
    """(``"app.Model"``, field name) for every foreign key that ties a row to a person."""
    return tuple(
        (key.rsplit(".", 1)[0], key.rsplit(".", 1)[1]) for key, category in FIELDS.items() if category == SUBJECT
    )


def unknown_categories(categories: frozenset[str] | set[str]) -> list[str]:
    """Classified categories that the policy does not define (a test keeps this empty)."""
    used = {category for category in FIELDS.values() if category not in MARKERS}
    return sorted(used - set(categories))
