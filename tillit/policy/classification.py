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
- ``HELD``: the link from a record under a legal hold (``HELD_RECORDS``, e.g. an order line)
  to its person; erasure detaches the record (the link becomes null) and keeps it until its
  ``hold_until``, when the sweep deletes it.
- ``SUBJECT_DIGEST``: a keyed hash of the email address or phone number of the person a
  queued row is about, before it is linked to a person (a form submission waiting in the
  intake; ``SUBJECT_DIGESTS`` names the kind of identifier). Erasure deletes every row whose
  hash matches the erased person's, the sweep leaves a person with such a row (a contact
  it does not know yet) to the drain, and the completeness check searches these columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

SUBJECT: Final = "<subject>"
NOT_PERSONAL: Final = "<not personal>"
STAFF: Final = "<staff>"
RETENTION: Final = "<retention>"
HELD: Final = "<held subject>"
SUBJECT_DIGEST: Final = "<subject digest>"
MARKERS: Final = (SUBJECT, NOT_PERSONAL, STAFF, RETENTION, HELD, SUBJECT_DIGEST)

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
        "audit.LedgerSeal.id": NOT_PERSONAL,
        "audit.LedgerSeal.ledger": NOT_PERSONAL,
        "audit.LedgerSeal.entry_id": NOT_PERSONAL,
        "audit.LedgerSeal.scope": NOT_PERSONAL,
        "audit.LedgerSeal.seq": NOT_PERSONAL,
        "audit.LedgerSeal.prev_seal": NOT_PERSONAL,
        "audit.LedgerSeal.seal": NOT_PERSONAL,
        "audit.LedgerRemoval.id": NOT_PERSONAL,
        "audit.LedgerRemoval.ledger": NOT_PERSONAL,
        "audit.LedgerRemoval.entry_id": NOT_PERSONAL,
        "audit.LedgerRemoval.scope": NOT_PERSONAL,
        "audit.LedgerRemoval.reason": NOT_PERSONAL,
        "audit.LedgerRemoval.removed_at": NOT_PERSONAL,
        "audit.LedgerRemoval.mark": NOT_PERSONAL,
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
        # The form code itself says nothing about a person; a sole proprietorship's form makes
        # its name and address personal data of its owner (tillit.policy.sole_proprietorship).
        "people.Organization.organisation_form": NOT_PERSONAL,
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
        "people.Dialogue.id": NOT_PERSONAL,
        "people.Dialogue.person": SUBJECT,
        "people.Dialogue.kind": "correspondence",
        "people.Dialogue.opened_at": "correspondence",
        "people.Dialogue.opened_by_id": STAFF,
        "people.Dialogue.request": NOT_PERSONAL,
        "people.Dialogue.closed_at": "correspondence",
        "people.Dialogue.closed_by_id": STAFF,
        "people.Purchase.id": NOT_PERSONAL,
        "people.Purchase.person": SUBJECT,
        "people.Purchase.order_number": "customer_records",
        "people.Purchase.product": "customer_records",
        "people.Purchase.purchased_at": "customer_records",
        "people.Purchase.opt_out_wording": "choices",
        "people.Purchase.opt_out_language": "choices",
        "people.Purchase.opt_out_refused": "choices",
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
        "consent.NoticeDelivery.message_id": NOT_PERSONAL,
        "consent.NoticeDelivery.claimed_until": NOT_PERSONAL,
        "consent.NoticeVersion.id": NOT_PERSONAL,
        "consent.NoticeVersion.digest": NOT_PERSONAL,
        "consent.NoticeVersion.policy_digest": NOT_PERSONAL,
        "consent.NoticeVersion.published_at": NOT_PERSONAL,
        "consent.NoticeVersion.purposes": NOT_PERSONAL,
        "consent.NoticeVersion.texts": NOT_PERSONAL,
        "consent.PolicyVersion.id": NOT_PERSONAL,
        "consent.PolicyVersion.digest": NOT_PERSONAL,
        "consent.PolicyVersion.facts_digest": NOT_PERSONAL,
        "consent.PolicyVersion.text": NOT_PERSONAL,
        "consent.PolicyVersion.published_at": NOT_PERSONAL,
        "consent.IndirectNotice.id": NOT_PERSONAL,
        "consent.IndirectNotice.person": SUBJECT,
        "consent.IndirectNotice.source": "choices",
        "consent.IndirectNotice.obtained_at": "choices",
        "consent.IndirectNotice.status": "choices",
        "consent.IndirectNotice.exemption": "choices",
        "consent.IndirectNotice.recorded_at": "choices",
        "consent.IndirectNotice.claimed_at": "choices",
        "consent.IndirectNotice.sent_at": "choices",
        "consent.IndirectNotice.language": "choices",
        # Cookie consent (§15): the banner's wording, and each browser's choices as proof. Not
        # linked to a person; the browser id is a pseudonymous identifier (technical, §4).
        "consent.CookieBannerWording.id": NOT_PERSONAL,
        "consent.CookieBannerWording.digest": NOT_PERSONAL,
        "consent.CookieBannerWording.language": NOT_PERSONAL,
        "consent.CookieBannerWording.texts": NOT_PERSONAL,
        "consent.CookieBannerWording.first_shown_at": NOT_PERSONAL,
        "consent.CookieChoice.id": NOT_PERSONAL,
        "consent.CookieChoice.browser_id": "technical",
        "consent.CookieChoice.categories": "choices",
        "consent.CookieChoice.notice_version": "choices",
        "consent.CookieChoice.wording": "choices",
        "consent.CookieChoice.language": "choices",
        "consent.CookieChoice.gpc": "choices",
        "consent.CookieChoice.chosen_at": "choices",
        "consent.CookieChoice.evidence_ip": "technical",
        "consent.CookieChoice.evidence_user_agent": "technical",
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
        "rights.RequestEmail.id": NOT_PERSONAL,
        "rights.RequestEmail.request": NOT_PERSONAL,
        "rights.RequestEmail.kind": NOT_PERSONAL,
        "rights.RequestEmail.email": "email",
        "rights.RequestEmail.with_download": NOT_PERSONAL,
        "rights.RequestEmail.message_id": NOT_PERSONAL,
        "rights.RequestEmail.created_at": NOT_PERSONAL,
        "rights.RequestEmail.claimed_until": NOT_PERSONAL,
        "rights.RequestEmail.attempts": NOT_PERSONAL,
        "rights.RequestEmail.sent_at": NOT_PERSONAL,
        "rights.RequestEmail.last_error": NOT_PERSONAL,
        "rights.PortalAttempt.id": NOT_PERSONAL,
        "rights.PortalAttempt.at": NOT_PERSONAL,
        "rights.PortalAttempt.email_digest": NOT_PERSONAL,
        "rights.PortalAttempt.source_digest": NOT_PERSONAL,
        # marketing (§7, §8, §9): newsletters and campaigns say nothing about a person; a
        # subscription request holds the address until the double opt-in click; a send record
        # is an email we sent the person; a delivery notice holds only a keyed hash.
        "marketing.NewsletterList.id": NOT_PERSONAL,
        "marketing.NewsletterList.key": NOT_PERSONAL,
        "marketing.NewsletterList.name": NOT_PERSONAL,
        "marketing.NewsletterList.description": NOT_PERSONAL,
        "marketing.NewsletterList.purpose": NOT_PERSONAL,
        "marketing.NewsletterList.created_at": NOT_PERSONAL,
        "marketing.NewsletterList.archived_at": NOT_PERSONAL,
        "marketing.SubscriptionRequest.id": NOT_PERSONAL,
        "marketing.SubscriptionRequest.newsletter": "choices",
        "marketing.SubscriptionRequest.person": SUBJECT,
        "marketing.SubscriptionRequest.email": "email",
        "marketing.SubscriptionRequest.name": "name",
        "marketing.SubscriptionRequest.language": "choices",
        "marketing.SubscriptionRequest.source_kind": "choices",
        "marketing.SubscriptionRequest.wording": "choices",
        "marketing.SubscriptionRequest.requested_at": "choices",
        "marketing.SubscriptionRequest.confirmed_at": "choices",
        "marketing.SubscriptionRequest.evidence_ip": "technical",
        "marketing.SubscriptionRequest.evidence_user_agent": "technical",
        "marketing.Campaign.id": NOT_PERSONAL,
        "marketing.Campaign.name": NOT_PERSONAL,
        "marketing.Campaign.purpose": NOT_PERSONAL,
        "marketing.Campaign.newsletter": NOT_PERSONAL,
        "marketing.Campaign.interest": NOT_PERSONAL,
        "marketing.Campaign.products": NOT_PERSONAL,
        "marketing.Campaign.subjects": NOT_PERSONAL,
        "marketing.Campaign.bodies_text": NOT_PERSONAL,
        "marketing.Campaign.bodies_html": NOT_PERSONAL,
        "marketing.Campaign.status": NOT_PERSONAL,
        "marketing.Campaign.created_by": STAFF,
        "marketing.Campaign.created_at": NOT_PERSONAL,
        "marketing.Campaign.started_at": NOT_PERSONAL,
        "marketing.Campaign.finished_at": NOT_PERSONAL,
        "marketing.Campaign.recipients": NOT_PERSONAL,
        "marketing.SendRecord.id": NOT_PERSONAL,
        "marketing.SendRecord.campaign": "correspondence",
        "marketing.SendRecord.person": SUBJECT,
        "marketing.SendRecord.status": "correspondence",
        "marketing.SendRecord.reason": "correspondence",
        "marketing.SendRecord.basis": "correspondence",
        "marketing.SendRecord.message_id": "correspondence",
        "marketing.SendRecord.lease_until": NOT_PERSONAL,
        "marketing.SendRecord.sent_at": "correspondence",
        "marketing.DeliveryNotice.id": NOT_PERSONAL,
        "marketing.DeliveryNotice.kind": NOT_PERSONAL,
        "marketing.DeliveryNotice.digest": NOT_PERSONAL,
        "marketing.DeliveryNotice.status": NOT_PERSONAL,
        "marketing.DeliveryNotice.campaign": NOT_PERSONAL,
        "marketing.DeliveryNotice.received_at": NOT_PERSONAL,
        # sharing (§11, §12, art. 19): partners are businesses; their contact point is a function
        # address. The disclosure ledger and the notices hold pseudonymous ids and category
        # names, never values, so they outlive the people they name (no SUBJECT link).
        "sharing.Partner.id": NOT_PERSONAL,
        "sharing.Partner.key": NOT_PERSONAL,
        "sharing.Partner.name": NOT_PERSONAL,
        "sharing.Partner.org_number": NOT_PERSONAL,
        "sharing.Partner.contact_email": NOT_PERSONAL,
        "sharing.Partner.endpoint_url": NOT_PERSONAL,
        "sharing.Partner.signing_secret": NOT_PERSONAL,
        "sharing.Partner.agreement_reference": NOT_PERSONAL,
        "sharing.Partner.role": NOT_PERSONAL,
        "sharing.Partner.agreement_dated": NOT_PERSONAL,
        "sharing.Partner.created_at": NOT_PERSONAL,
        "sharing.Partner.ended_at": NOT_PERSONAL,
        "sharing.ProcessorChannel.id": NOT_PERSONAL,
        "sharing.ProcessorChannel.processor_key": NOT_PERSONAL,
        "sharing.ProcessorChannel.contact_email": NOT_PERSONAL,
        "sharing.ProcessorChannel.endpoint_url": NOT_PERSONAL,
        "sharing.ProcessorChannel.signing_secret": NOT_PERSONAL,
        "sharing.ProcessorChannel.updated_at": NOT_PERSONAL,
        "sharing.Dialogue.id": NOT_PERSONAL,
        "sharing.Dialogue.partner": NOT_PERSONAL,
        "sharing.Dialogue.kind": NOT_PERSONAL,
        "sharing.Dialogue.title": NOT_PERSONAL,
        "sharing.Dialogue.opened_at": NOT_PERSONAL,
        "sharing.Dialogue.opened_by_id": STAFF,
        "sharing.Dialogue.closed_at": NOT_PERSONAL,
        "sharing.Dialogue.closed_by_id": STAFF,
        "sharing.DialogueMember.id": NOT_PERSONAL,
        "sharing.DialogueMember.dialogue": NOT_PERSONAL,
        "sharing.DialogueMember.person": SUBJECT,
        "sharing.DialogueMember.added_at": NOT_PERSONAL,
        "sharing.DialogueMember.added_by_id": STAFF,
        "sharing.DialogueMember.removed_at": NOT_PERSONAL,
        "sharing.Event.id": NOT_PERSONAL,
        "sharing.Event.name": NOT_PERSONAL,
        "sharing.Event.partner": NOT_PERSONAL,
        "sharing.Event.starts_at": NOT_PERSONAL,
        "sharing.Event.form_id": NOT_PERSONAL,
        "sharing.Event.dialogue": NOT_PERSONAL,
        "sharing.Event.created_at": NOT_PERSONAL,
        "sharing.EventAttendance.id": NOT_PERSONAL,
        "sharing.EventAttendance.event": NOT_PERSONAL,
        "sharing.EventAttendance.person": SUBJECT,
        "sharing.EventAttendance.attended_at": "correspondence",
        "sharing.EventAttendance.interaction_id": NOT_PERSONAL,
        "sharing.Disclosure.id": NOT_PERSONAL,
        "sharing.Disclosure.reference": NOT_PERSONAL,
        "sharing.Disclosure.partner": NOT_PERSONAL,
        "sharing.Disclosure.dialogue": NOT_PERSONAL,
        "sharing.Disclosure.event": NOT_PERSONAL,
        "sharing.Disclosure.basis": NOT_PERSONAL,
        "sharing.Disclosure.purpose": NOT_PERSONAL,
        "sharing.Disclosure.channel": NOT_PERSONAL,
        "sharing.Disclosure.categories": NOT_PERSONAL,
        "sharing.Disclosure.people": NOT_PERSONAL,
        "sharing.Disclosure.disclosed_at": NOT_PERSONAL,
        "sharing.Disclosure.staff_user_id": STAFF,
        "sharing.Disclosure.actor_label": STAFF,
        "sharing.Disclosure.actor_role": STAFF,
        "sharing.DisclosedPerson.id": NOT_PERSONAL,
        "sharing.DisclosedPerson.disclosure": NOT_PERSONAL,
        "sharing.DisclosedPerson.pseudonym": NOT_PERSONAL,
        "sharing.DisclosedPerson.categories": NOT_PERSONAL,
        "sharing.Delivery.id": NOT_PERSONAL,
        "sharing.Delivery.disclosure": NOT_PERSONAL,
        "sharing.Delivery.status": NOT_PERSONAL,
        "sharing.Delivery.attempts": NOT_PERSONAL,
        "sharing.Delivery.last_attempt_at": NOT_PERSONAL,
        "sharing.Delivery.next_attempt_at": NOT_PERSONAL,
        "sharing.Delivery.delivered_at": NOT_PERSONAL,
        "sharing.Delivery.response_status": NOT_PERSONAL,
        "sharing.Delivery.last_error": NOT_PERSONAL,
        "sharing.Delivery.claimed_until": NOT_PERSONAL,
        "sharing.Delivery.withheld": NOT_PERSONAL,
        "sharing.RecipientNotice.id": NOT_PERSONAL,
        "sharing.RecipientNotice.reference": NOT_PERSONAL,
        "sharing.RecipientNotice.kind": NOT_PERSONAL,
        "sharing.RecipientNotice.partner": NOT_PERSONAL,
        "sharing.RecipientNotice.processor_key": NOT_PERSONAL,
        "sharing.RecipientNotice.erasure_batch": NOT_PERSONAL,
        "sharing.RecipientNotice.erasure_notice_id": NOT_PERSONAL,
        "sharing.RecipientNotice.people": NOT_PERSONAL,
        "sharing.RecipientNotice.created_at": NOT_PERSONAL,
        "sharing.RecipientNotice.status": NOT_PERSONAL,
        "sharing.RecipientNotice.attempts": NOT_PERSONAL,
        "sharing.RecipientNotice.last_attempt_at": NOT_PERSONAL,
        "sharing.RecipientNotice.next_attempt_at": NOT_PERSONAL,
        "sharing.RecipientNotice.acknowledged_at": NOT_PERSONAL,
        "sharing.RecipientNotice.last_error": NOT_PERSONAL,
        "sharing.NoticeItem.id": NOT_PERSONAL,
        "sharing.NoticeItem.notice": NOT_PERSONAL,
        "sharing.NoticeItem.pseudonym": NOT_PERSONAL,
        "sharing.NoticeItem.categories": NOT_PERSONAL,
        "sharing.NoticeScan.id": NOT_PERSONAL,
        "sharing.NoticeScan.name": NOT_PERSONAL,
        "sharing.NoticeScan.last_id": NOT_PERSONAL,
        "sharing.NoticeScan.ran_at": NOT_PERSONAL,
        "sharing.VerifyRun.id": NOT_PERSONAL,
        "sharing.VerifyRun.started_at": NOT_PERSONAL,
        "sharing.VerifyRun.finished_at": NOT_PERSONAL,
        "sharing.VerifyRun.seconds": NOT_PERSONAL,
        "sharing.VerifyRun.total": NOT_PERSONAL,
        "sharing.VerifyRun.counts": NOT_PERSONAL,
        "sharing.VerifyRun.violations": NOT_PERSONAL,
        "sharing.VerifyRun.truncated": NOT_PERSONAL,
        "sharing.VerifyRun.actor_label": STAFF,
        # capture: site visits (§4 technical information). The visitor id is a pseudonymous
        # identifier; the daily counts and the counted days hold no personal data.
        "capture.Visit.id": NOT_PERSONAL,
        "capture.Visit.visited_at": "technical",
        "capture.Visit.day": "technical",
        "capture.Visit.visitor_id": "technical",
        "capture.Visit.person": SUBJECT,
        "capture.Visit.url": "technical",
        "capture.Visit.path": "technical",
        "capture.Visit.referrer": "technical",
        "capture.Visit.ip": "technical",
        "capture.Visit.browser": "technical",
        "capture.Visit.operating_system": "technical",
        "capture.Visit.language": "technical",
        "capture.VisitorLink.id": NOT_PERSONAL,
        "capture.VisitorLink.visitor_id": "technical",
        "capture.VisitorLink.person": SUBJECT,
        "capture.VisitorLink.linked_at": "technical",
        "capture.VisitorLink.source_ref": NOT_PERSONAL,
        "capture.DailyVisits.id": NOT_PERSONAL,
        "capture.DailyVisits.day": NOT_PERSONAL,
        "capture.DailyVisits.path": NOT_PERSONAL,
        "capture.DailyVisits.browser": NOT_PERSONAL,
        "capture.DailyVisits.operating_system": NOT_PERSONAL,
        "capture.DailyVisits.language": NOT_PERSONAL,
        "capture.DailyVisits.visits": NOT_PERSONAL,
        "capture.DailyVisits.visitors": NOT_PERSONAL,
        "capture.VisitDay.id": NOT_PERSONAL,
        "capture.VisitDay.day": NOT_PERSONAL,
        "capture.VisitDay.aggregated_at": NOT_PERSONAL,
        "capture.VisitDay.visits": NOT_PERSONAL,
        # capture: forms, downloads, orders and services (§4, §6, §9)
        "capture.Form.id": NOT_PERSONAL,
        "capture.Form.public_id": NOT_PERSONAL,
        "capture.Form.name": NOT_PERSONAL,
        "capture.Form.language": NOT_PERSONAL,
        "capture.Form.source": NOT_PERSONAL,
        "capture.Form.fields": NOT_PERSONAL,
        "capture.Form.consents": NOT_PERSONAL,
        "capture.Form.material": NOT_PERSONAL,
        "capture.Form.is_active": NOT_PERSONAL,
        "capture.Form.created_at": NOT_PERSONAL,
        "capture.Form.updated_at": NOT_PERSONAL,
        "capture.FormSubmission.id": NOT_PERSONAL,
        "capture.FormSubmission.form": NOT_PERSONAL,
        "capture.FormSubmission.person": SUBJECT,
        "capture.FormSubmission.submitted_at": "form_answers",
        "capture.FormSubmission.answers": "form_answers",
        "capture.FormSubmission.intake_ref": NOT_PERSONAL,
        # capture: the intake queue of form submissions (queued, not yet applied to a person).
        # Applied rows are deleted in the drain's transaction; rejected rows keep no answers,
        # consents or evidence (blanked), only the form, times, status and the reason.
        "capture.FormIntake.id": NOT_PERSONAL,
        "capture.FormIntake.form": NOT_PERSONAL,
        "capture.FormIntake.received_at": "form_answers",
        "capture.FormIntake.answers": "form_answers",
        "capture.FormIntake.consents": "choices",
        "capture.FormIntake.language": NOT_PERSONAL,
        "capture.FormIntake.ip": "technical",
        "capture.FormIntake.user_agent": "technical",
        "capture.FormIntake.browser_id": "technical",
        "capture.FormIntake.visitor_id": "technical",
        "capture.FormIntake.gpc": "choices",
        "capture.FormIntake.email_digest": SUBJECT_DIGEST,
        "capture.FormIntake.phone_digest": SUBJECT_DIGEST,
        "capture.FormIntake.status": NOT_PERSONAL,
        "capture.FormIntake.processed_at": NOT_PERSONAL,
        "capture.FormIntake.error": NOT_PERSONAL,
        "capture.Material.id": NOT_PERSONAL,
        "capture.Material.slug": NOT_PERSONAL,
        "capture.Material.title": NOT_PERSONAL,
        "capture.Material.url": NOT_PERSONAL,
        "capture.Material.downloads": NOT_PERSONAL,
        "capture.Material.created_at": NOT_PERSONAL,
        # An order line is a bookkeeping record under a legal hold (HELD): erasure detaches it
        # from the person and keeps it until ``hold_until``; nothing left on it is personal then.
        "capture.OrderLine.id": NOT_PERSONAL,
        "capture.OrderLine.person": HELD,
        "capture.OrderLine.customer_pseudonym": NOT_PERSONAL,
        "capture.OrderLine.order_number": "customer_records",
        "capture.OrderLine.line_number": NOT_PERSONAL,
        "capture.OrderLine.ordered_at": "customer_records",
        "capture.OrderLine.product": "customer_records",
        "capture.OrderLine.quantity": "customer_records",
        "capture.OrderLine.unit_price": "customer_records",
        "capture.OrderLine.currency": "customer_records",
        "capture.OrderLine.hold_until": RETENTION,
        "capture.OrderLine.created_at": NOT_PERSONAL,
        "capture.ServiceSubscription.id": NOT_PERSONAL,
        "capture.ServiceSubscription.person": SUBJECT,
        "capture.ServiceSubscription.product": "customer_records",
        "capture.ServiceSubscription.started_at": "customer_records",
        "capture.ServiceSubscription.cancelled_at": "customer_records",
    }
)

# The records a legal hold of the policy keeps (``retention.legal_holds.*.records``), by the
# model that holds them. Each has one ``HELD`` link to the person and a ``hold_until`` column.
HELD_RECORDS: Final[Mapping[str, str]] = MappingProxyType({"capture.OrderLine": "order_lines"})
HOLD_UNTIL_FIELD: Final = "hold_until"

# The kind of identifier (``tillit.core.identifiers.identifier_digest``) each ``SUBJECT_DIGEST``
# column holds a keyed hash of: also the name of the Person field it is the hash of.
SUBJECT_DIGESTS: Final[Mapping[str, str]] = MappingProxyType(
    {"capture.FormIntake.email_digest": "email", "capture.FormIntake.phone_digest": "phone"}
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


def held_links() -> tuple[tuple[str, str, str], ...]:
    """(``"app.Model"``, field name, held record name) for every link from a record under a
    legal hold to a person."""
    return tuple(
        (key.rsplit(".", 1)[0], key.rsplit(".", 1)[1], HELD_RECORDS[key.rsplit(".", 1)[0]])
        for key, category in FIELDS.items()
        if category == HELD
    )


def subject_digests() -> tuple[tuple[str, str, str], ...]:
    """(``"app.Model"``, field name, identifier kind) for every column that holds a keyed hash
    of the identifier of the person a queued row is about (``SUBJECT_DIGEST``)."""
    return tuple(
        (key.rsplit(".", 1)[0], key.rsplit(".", 1)[1], SUBJECT_DIGESTS[key])
        for key, category in FIELDS.items()
        if category == SUBJECT_DIGEST
    )


def unknown_categories(categories: frozenset[str] | set[str]) -> list[str]:
    """Classified categories that the policy does not define (a test keeps this empty)."""
    used = {category for category in FIELDS.values() if category not in MARKERS}
    return sorted(used - set(categories))
