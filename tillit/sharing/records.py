"""The records of processing activities (GDPR art. 30(1)), generated from the policy file and
the live registries, for the privacy officer: as a dictionary (the JSON), an HTML page and a
PDF. Every fact comes from ``tillit.policy.current()`` (the same file as the notice) or from a
count in the database; nothing is restated here but the security measures this system itself
implements (art. 30(1)(g), 32), which are facts of the code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tillit import policy
from tillit.consent.models import NoticeVersion, Subscription
from tillit.core.words import BASIS_WORDS, PARTNER_ROLE_WORDS, RIGHT_WORDS, transfer_words
from tillit.people.models import CustomerRelationship, Organization, Person
from tillit.policy.schema import Policy
from tillit.sharing.models import DialogueMember, Disclosure, EventAttendance, Partner

# Art. 30(1)(g), 32(1): what this system does to protect the data (facts of the code).
SECURITY_MEASURES = (
    gettext_lazy(
        "Access by role and purpose: each staff role sees only the categories the policy gives it for the "
        "purpose it works for (§10); a record it may not see answers like a missing one."
    ),
    gettext_lazy("Sign-in with a password (Argon2) and a second factor (TOTP); lock-out after repeated failures."),
    gettext_lazy(
        "An append-only, hash-chained audit log of every read, export, disclosure and change of personal data, "
        "checked by `tillit audit verify` and `tillit verify`."
    ),
    gettext_lazy(
        "Append-only ledgers of consents and of disclosures to partners, refused UPDATE and DELETE by the database."
    ),
    gettext_lazy(
        "Retention deadlines recomputed on every event and a daily sweep that erases everyone past theirs, "
        "leaving a receipt without personal data."
    ),
    gettext_lazy("The suppression list and erasure receipts hold keyed hashes (HMAC-SHA256), never the identifiers."),
    gettext_lazy(
        "A guard that holds back national identity numbers, payment cards and special categories in free text."
    ),
    gettext_lazy(
        "Disclosures to partners only through one service that checks the policy, signed (HMAC-SHA256) over HTTPS "
        "with verified certificates; CSV exports neutralised against formula injection."
    ),
    gettext_lazy("A strict content security policy, secure session cookies and HTTPS in production."),
)


# GDPR art. 6(4)(a)-(e), in the order of the article.
COMPATIBILITY_FACTOR_WORDS = (
    ("link", gettext_lazy("(a) Link between the purposes")),
    ("context", gettext_lazy("(b) Context of collection and relationship with the people")),
    ("nature", gettext_lazy("(c) Nature of the data")),
    ("consequences", gettext_lazy("(d) Possible consequences for the people")),
    ("safeguards", gettext_lazy("(e) Safeguards")),
)
IMPACT_KIND_WORDS = {
    "dpia": gettext_lazy("Data protection impact assessment (GDPR art. 35)"),
    "screening": gettext_lazy("Screening: no impact assessment needed (GDPR art. 35)"),
}


def _label(labels: Any, language: str, current: Policy) -> str:
    return str(labels.get(language) or labels[current.default_language])


def _retention_words(current: Policy) -> list[str]:
    r = current.retention
    words = [
        _("%(years)s years after the last contact the person took part in (§%(section)s).")
        % {"years": r.dialogue.years, "section": r.dialogue.section},
        _("%(years)s years after unsubscribing from a newsletter; none while subscribed (§%(section)s).")
        % {"years": r.newsletter.years_after_unsubscribe, "section": r.newsletter.section},
        _("No deadline while a customer relationship is active; then as after the last contact (§%(section)s).")
        % {"section": r.customer.section},
        _("Raw website visits: %(months)s months (§%(section)s).") % {"months": r.raw_visit_months, "section": 4},
    ]
    sole = current.sole_proprietorships
    words.append(
        _(
            "Sole proprietorships (§%(section)s): while a person is linked to them; otherwise %(years)s years "
            "after the register last gave or changed them."
        )
        % {"section": sole.section, "years": sole.years}
    )
    for hold in r.legal_holds.values():
        words.append(
            _("%(records)s: %(years)s years after the end of the financial year (%(basis)s).")
            % {"records": ", ".join(hold.records), "years": hold.years, "basis": hold.basis}
        )
    return words


def records_of_processing(*, now: dt.datetime, language: str = "en") -> dict[str, Any]:
    """The record (art. 30(1)(a)-(g)) as a dictionary: the controller, each purpose with its
    legal bases, the categories of data subjects and of data, the recipients (staff roles,
    partners, processors and sub-processors), transfers, time limits, security measures, and
    the live counts behind them."""
    current = policy.current()
    c = current.controller
    roles_by_purpose: dict[str, list[str]] = {p: [] for p in current.purposes}
    for role in current.roles.values():
        for used in role.access:
            roles_by_purpose.setdefault(used, []).append(_label(role.label, language, current))
    dialogue_purposes = set(current.partners.dialogues.values())
    partners: list[dict[str, Any]] = [
        dict(row)
        for row in Partner.objects.order_by("name").values(
            "key", "name", "org_number", "agreement_reference", "agreement_dated", "ended_at", "role"
        )
    ]
    for partner in partners:
        partner["role_words"] = str(PARTNER_ROLE_WORDS.get(partner["role"], partner["role"]))
        arrangement = current.joint_controllers.get(partner["key"]) if partner["role"] == "joint_controller" else None
        partner["arrangement"] = (
            {
                "agreement_reference": arrangement.agreement_reference,
                "agreement_dated": arrangement.agreement_dated,
                "essence": _label(arrangement.essence, language, current),
            }
            if arrangement is not None
            else None
        )
    partner_categories = [_label(current.categories[k].label, language, current) for k in current.partners.categories]
    event_categories = [
        _label(current.categories[k].label, language, current) for k in current.partners.event_categories
    ]
    processors: list[dict[str, Any]] = [
        {
            "name": p.name,
            "role": p.role,
            "country": p.country,
            "location": p.location,
            "agreement_reference": p.agreement_reference,
            "agreement_dated": p.agreement_dated,
            "sub_processors": [
                {
                    "name": s.name,
                    "service": s.service,
                    "country": s.country,
                    "transfer": s.transfer,
                    "transfer_words": transfer_words(s.transfer),
                }
                for s in p.sub_processors
            ],
        }
        for p in current.processors.values()
    ]
    activities = []
    for key, purpose in current.purposes.items():
        recipients = [_("Staff roles: %(roles)s") % {"roles": ", ".join(roles_by_purpose.get(key, [])) or "-"}]
        recipients += [_("Processor: %(name)s (%(role)s)") % {"name": p["name"], "role": p["role"]} for p in processors]
        if key in dialogue_purposes:
            recipients.append(
                _(
                    "Partners in an ongoing dialogue (§%(section)s): %(categories)s; "
                    "for an event run with them also %(extra)s"
                )
                % {
                    "section": current.partners.section,
                    "categories": ", ".join(partner_categories),
                    "extra": ", ".join(event_categories) or "-",
                }
            )
        assessment = current.assessments.get(purpose.assessment) if purpose.assessment else None
        compatibility = current.compatibility.get(purpose.compatibility) if purpose.compatibility else None
        impact = current.impact_assessments.get(purpose.impact_assessment) if purpose.impact_assessment else None
        activities.append(
            {
                "key": key,
                "name": _label(purpose.label, language, current),
                "section": purpose.section,
                "bases": [
                    {
                        "channel": _label(current.channels[ch].label, language, current),
                        "basis": basis,
                        "words": str(BASIS_WORDS.get(basis, basis)),
                        "exceptions": list(purpose.exceptions.get(ch, ())),
                    }
                    for ch, basis in purpose.bases.items()
                ],
                "assessment": (
                    {"title": assessment.title, "dated": assessment.dated} if assessment is not None else None
                ),
                # Art. 6(4): a purpose added after collection, not on consent.
                "original": key in current.notice.original_purposes,
                "compatibility": (
                    {
                        "title": compatibility.title,
                        "dated": compatibility.dated,
                        "factors": [
                            {"factor": str(word), "text": getattr(compatibility, name)}
                            for name, word in COMPATIBILITY_FACTOR_WORDS
                        ],
                    }
                    if compatibility is not None
                    else None
                ),
                # Art. 35: a DPIA, or the screening that found none is needed.
                "profiling": purpose.profiling,
                "impact_assessment": (
                    {
                        "kind": impact.kind,
                        "kind_words": str(IMPACT_KIND_WORDS[impact.kind]),
                        "title": impact.title,
                        "reference": impact.reference,
                        "dated": impact.dated,
                        "conclusion": impact.conclusion,
                    }
                    if impact is not None
                    else None
                ),
                "objectable": purpose.objectable,
                "marketing": purpose.marketing,
                "data_categories": [_label(current.categories[k].label, language, current) for k in purpose.categories],
                "recipients": recipients,
            }
        )
    third_country = [
        {"processor": p["name"], **s}
        for p in processors
        for s in p["sub_processors"]
        if s["transfer"] is not None  # the loader requires one for a country outside the EEA, and none inside
    ]
    counts = {
        "people": Person.objects.count(),
        "customers": CustomerRelationship.objects.filter(ended_at__isnull=True).values("person_id").distinct().count(),
        "subscribers": Subscription.objects.filter(unsubscribed_at__isnull=True).values("person_id").distinct().count(),
        "in_partner_dialogues": DialogueMember.objects.filter(removed_at__isnull=True, dialogue__closed_at__isnull=True)
        .values("person_id")
        .distinct()
        .count(),
        "event_participants": EventAttendance.objects.values("person_id").distinct().count(),
        "partners": Partner.objects.filter(ended_at__isnull=True).count(),
        "disclosures_last_year": Disclosure.objects.filter(disclosed_at__gte=now - dt.timedelta(days=365)).count(),
        "notice_versions": NoticeVersion.objects.count(),
        "sole_proprietorships": Organization.objects.filter(
            organisation_form__in=sorted(current.sole_proprietorships.forms)
        ).count(),
    }
    subjects = [
        {"group": _("Contact persons at businesses (prospects and customers)"), "count": counts["people"]},
        {"group": _("Customers with an active customer relationship"), "count": counts["customers"]},
        {"group": _("Newsletter subscribers"), "count": counts["subscribers"]},
        {"group": _("People in an open dialogue with a partner"), "count": counts["in_partner_dialogues"]},
        {"group": _("Event participants"), "count": counts["event_participants"]},
        {
            "group": _("Owners of sole proprietorships from the public register (§6)"),
            "count": counts["sole_proprietorships"],
        },
    ]
    return {
        "title": _("Records of processing activities (GDPR art. 30(1))"),
        "generated_at": now,
        "policy": {"name": current.name, "digest": current.digest},
        "controller": {
            "name": c.name,
            "organisation_number": c.organisation_number,
            "address": f"{c.street}, {c.postcode} {c.city}, {c.country}",
            "email": c.email,
            "phone": c.phone,
            "website": c.website,
            "privacy_contact": current.rights.contact_email,
        },
        "activities": activities,
        "data_subjects": subjects,
        "data_categories": [
            {"key": k, "name": _label(cat.label, language, current), "section": cat.section}
            for k, cat in current.categories.items()
        ],
        "partners": [{**p, "status": _("ended") if p["ended_at"] else _("active")} for p in partners],
        "partner_rules": {
            "sells_data": current.partners.sells_data,
            "requires": current.partners.requires,
            "categories": partner_categories,
            "event_categories": event_categories,
        },
        "processors": processors,
        "storage": {"system": current.storage.system, "location": current.storage.location},
        "transfers": third_country,
        "transfers_words": _("No transfers outside the EEA.") if not third_country else "",
        "retention": _retention_words(current),
        "rights": [str(RIGHT_WORDS.get(r, r)) for r in current.rights.available],
        "security_measures": [str(m) for m in SECURITY_MEASURES],
        "counts": counts,
    }


def render_html(record: dict[str, Any]) -> str:
    return render_to_string("sharing/records.html", {"record": record, "standalone": True})


def render_pdf(record: dict[str, Any]) -> bytes:
    import logging

    from weasyprint import HTML  # imported here: it loads pango, which only this needs

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return HTML(string=render_html(record)).write_pdf()  # type: ignore[no-any-return]
