"""The policy as W3C Data Privacy Vocabulary (DPV 2) JSON-LD, published at
``/privacy/policy.jsonld``: the controller, one process per purpose with its legal basis per
channel (GDPR art. 6(1) points), its personal data, the recipients (partners, processors and
sub-processors with their locations), storage durations and the rights. Built from the same
policy file as the notice and the records of processing; nothing here but the translation of
tillit's fixed vocabulary (legal bases, rights) into DPV terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tillit.policy.schema import Policy

CONTEXT: Final = {
    "dpv": "https://w3id.org/dpv#",
    "pd": "https://w3id.org/dpv/pd#",
    "eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#",
    "loc": "https://w3id.org/dpv/loc#",
    "dct": "http://purl.org/dc/terms/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "schema": "https://schema.org/",
}
# tillit's legal bases (tillit.core.vocabulary.LEGAL_BASES) as DPV concepts and GDPR articles.
BASES: Final[Mapping[str, tuple[str, str]]] = {
    "consent": ("dpv:Consent", "eu-gdpr:A6-1-a"),
    "contract": ("dpv:Contract", "eu-gdpr:A6-1-b"),
    "legal_obligation": ("dpv:LegalObligation", "eu-gdpr:A6-1-c"),
    "legitimate_interest": ("dpv:LegitimateInterest", "eu-gdpr:A6-1-f"),
}
# tillit's rights (tillit.core.vocabulary.RIGHTS) as GDPR rights in DPV.
RIGHTS: Final[Mapping[str, str]] = {
    "access": "eu-gdpr:A15",
    "rectification": "eu-gdpr:A16",
    "erasure": "eu-gdpr:A17",
    "withdrawal": "eu-gdpr:A7-3",
    "portability": "eu-gdpr:A20",
    "objection": "eu-gdpr:A21",
    "restriction": "eu-gdpr:A18",
}


def _labels(labels: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"@language": language, "@value": text} for language, text in labels.items()]


def _purpose_type(policy: Policy, key: str) -> str:
    purpose = policy.purposes[key]
    if purpose.marketing:
        return "dpv:DirectMarketing"
    if set(purpose.bases.values()) == {"legal_obligation"}:
        return "dpv:LegalCompliance"
    if set(purpose.bases) == {"web"}:
        return "dpv:ServiceOptimisation"
    return "dpv:CustomerRelationshipManagement"


def policy_jsonld(policy: Policy, *, base: str) -> dict[str, Any]:
    """The policy as a JSON-LD document; ``base`` is the public address of this system."""
    root = f"{base}/privacy/policy.jsonld"
    c = policy.controller
    controller = {
        "@id": f"{root}#controller",
        "@type": "dpv:DataController",
        "schema:name": c.name,
        "schema:identifier": c.organisation_number,
        "schema:email": c.email,
        "schema:telephone": c.phone,
        "schema:url": c.website,
        "schema:address": f"{c.street}, {c.postcode} {c.city}, {c.country}",
        "dpv:hasLocation": {"@id": f"loc:{c.country}"},
    }
    data = {
        key: {
            "@id": f"{root}#data-{key}",
            "@type": "dpv:PersonalData",
            "rdfs:label": _labels(cat.label),
            "dct:source": f"§{cat.section}",
        }
        for key, cat in policy.categories.items()
    }
    processors = []
    for key, p in policy.processors.items():
        processors.append(
            {
                "@id": f"{root}#processor-{key}",
                "@type": "dpv:DataProcessor",
                "schema:name": p.name,
                "rdfs:comment": p.role,
                "dpv:hasLocation": {"@id": f"loc:{p.country}"},
                "dct:date": {"@type": "xsd:date", "@value": p.agreement_dated.isoformat()},
                "dpv:hasDataSubProcessor": [
                    {
                        "@type": "dpv:DataSubProcessor",
                        "schema:name": s.name,
                        "rdfs:comment": s.service,
                        "dpv:hasLocation": {"@id": f"loc:{s.country}"},
                        "dpv:hasDataTransfer": s.transfer or "none (EEA)",
                    }
                    for s in p.sub_processors
                ],
            }
        )
    partners = {
        "@id": f"{root}#partners",
        "@type": "dpv:ThirdParty",
        "rdfs:label": f"Partners in an ongoing sales or customer dialogue (§{policy.partners.section})",
        "dpv:hasPersonalData": [{"@id": data[k]["@id"]} for k in policy.partners.categories],
        "dpv:hasContext": {"@id": f"dpv:{'Required' if policy.partners.requires else 'Optional'}"},
    }
    event_partners = {
        "@id": f"{root}#event-partners",
        "@type": "dpv:ThirdParty",
        "rdfs:label": f"A partner we ran an event with (§{policy.partners.section})",
        "dpv:hasPersonalData": [
            {"@id": data[k]["@id"]} for k in (*policy.partners.categories, *policy.partners.event_categories)
        ],
    }
    dialogue_purposes = set(policy.partners.dialogues.values())
    years = policy.retention.dialogue.years
    processes = []
    for key, purpose in policy.purposes.items():
        recipients = [{"@id": p["@id"]} for p in processors]
        if key in dialogue_purposes:
            recipients += [{"@id": partners["@id"]}, {"@id": event_partners["@id"]}]
        processes.append(
            {
                "@id": f"{root}#process-{key}",
                "@type": "dpv:Process",
                "rdfs:label": _labels(purpose.label),
                "dct:source": f"§{purpose.section}",
                "dpv:hasPurpose": {
                    "@id": f"{root}#purpose-{key}",
                    "@type": ["dpv:Purpose", _purpose_type(policy, key)],
                    "rdfs:label": _labels(purpose.label),
                },
                "dpv:hasLegalBasis": [
                    {
                        "@type": BASES[basis][0],
                        "skos:broader": {"@id": BASES[basis][1]},
                        "dpv:hasContext": channel,
                        **(
                            {"dct:description": list(purpose.exceptions[channel])}
                            if channel in purpose.exceptions
                            else {}
                        ),
                    }
                    for channel, basis in purpose.bases.items()
                    if basis in BASES
                ],
                "dpv:hasPersonalData": [{"@id": data[k]["@id"]} for k in purpose.categories],
                "dpv:hasDataController": {"@id": controller["@id"]},
                "dpv:hasRecipient": recipients,
                "dpv:hasStorageCondition": {
                    "@type": "dpv:StorageDuration",
                    "dpv:hasDuration": {"@type": "xsd:duration", "@value": f"P{years}Y"},
                    "rdfs:comment": f"until {years} years after the last contact the person took part in (§9)",
                },
                **({"dpv:hasRight": [{"@id": "eu-gdpr:A21"}]} if purpose.objectable else {}),
            }
        )
    return {
        "@context": CONTEXT,
        "@id": root,
        "@type": "dpv:Policy",
        "schema:name": policy.name,
        "dct:identifier": policy.digest,
        "dct:language": list(policy.languages),
        "dpv:hasDataController": controller,
        "dpv:hasProcess": processes,
        "dpv:hasPersonalData": list(data.values()),
        "dpv:hasRecipient": [*processors, partners, event_partners],
        "dpv:hasStorageCondition": {
            "@type": "dpv:StorageLocation",
            "rdfs:comment": f"{policy.storage.system}: {policy.storage.location}",
        },
        "dpv:hasRight": [{"@id": RIGHTS[r]} for r in policy.rights.available if r in RIGHTS],
        "rdfs:comment": ""
        if policy.partners.sells_data
        else f"Personal data is never sold (§{policy.partners.section}).",
    }
