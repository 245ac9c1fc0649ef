"""The fixed vocabulary the code understands and the policy file refers to.

The policy decides *which* of these apply where (which interaction kinds move the retention
clock, which basis a purpose rests on); this module only names what exists.
"""

from typing import Final

LEGAL_BASES: Final = ("consent", "contract", "legal_obligation", "legitimate_interest")
# Statutory alternatives to consent for email marketing (Marketing Control Act §15(3)).
CONSENT_EXCEPTIONS: Final = ("existing_customer",)

INTERACTION_KINDS: Final = (
    "form",
    "download",
    "email",
    "call",
    "chat",
    "order",
    "event",
    "visit",
    "note",
)
DIRECTIONS: Final = ("inbound", "outbound", "internal")

RIGHTS: Final = ("access", "rectification", "erasure", "withdrawal", "portability", "objection", "restriction")
VERIFICATION_METHODS: Final = ("email_link", "signed_document")

# Records a legal hold may keep after everything else about a person is erased.
HOLDABLE_RECORDS: Final = ("order_lines",)

PARTNER_REQUIREMENTS: Final = ("open_dialogue",)

# A provenance record whose ``field`` is this covers every field set when the record was
# created from one source at once (a bulk import writes one such row, not one per field).
PROVENANCE_ALL_FIELDS: Final = "*"

# Staff pages and reports without personal data that the policy grants per role.
TOOLS: Final = (
    "retention_forecast",
    "audit_log",
    "staff_accounts",
    "request_desk",
    "visit_statistics",
    "capture_forms",
    "partners",
    "records_of_processing",
    "breach_register",
)
