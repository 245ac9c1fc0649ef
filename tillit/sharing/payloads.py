"""What a disclosure carries: the people's data in the categories the ledger names, read from
the live records when the data leaves (so an erased person never goes), as JSON or as CSV.

Which columns hold a category comes from the classification registry (one home), never from
a list here. Every person carries ``reference``: their pseudonymous id, which the partner
keeps with the data so that later notices (corrections, erasures; GDPR art. 19) can name
them without personal data.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tillit.capture.models import FormSubmission
from tillit.people.models import Organization, Person
from tillit.policy import capture as capture_rules
from tillit.policy import classification

PERSON = "people.Person"
ORGANIZATION = "people.Organization"
SUBMISSION = "capture.FormSubmission"
FORM_ANSWERS = "form_answers"


def person_columns(categories: Iterable[str]) -> list[str]:
    """The Person fields that hold ``categories`` (the organisation link excluded), in model order."""
    wanted = classification.fields_in_categories(PERSON, set(categories))
    return [f.name for f in Person._meta.concrete_fields if f.name in wanted and not f.is_relation]


def organization_columns(categories: Iterable[str]) -> list[str]:
    """The Organization fields shown for a person's business when its category may go."""
    cats = set(categories)
    if "organization" not in classification.fields_in_categories(PERSON, cats):
        return []
    wanted = classification.fields_in_categories(ORGANIZATION, cats)
    return [f.name for f in Organization._meta.concrete_fields if f.name in wanted]


def submission_columns(categories: Iterable[str]) -> list[str]:
    wanted = classification.fields_in_categories(SUBMISSION, set(categories))
    return [f.name for f in FormSubmission._meta.concrete_fields if f.name in wanted]


def _answers(answers: Any, categories: set[str]) -> dict[str, Any]:
    """The answers of a form, keeping only those whose category may go: a form's ``position``
    question collects the position category, not an "additional question" (§11); what each
    form field collects is the capture rule's (``tillit.policy.capture.FORM_FIELDS``)."""
    if not isinstance(answers, Mapping):
        return {}
    return {str(k): v for k, v in answers.items() if capture_rules.FORM_FIELDS.get(str(k)) in categories}


def people_records(
    rows: Sequence[tuple[uuid.UUID, Sequence[str]]], *, form_id: int | None = None
) -> list[dict[str, Any]]:
    """One record per person still stored, in the order given: ``reference`` and the values of
    the categories in their ledger row. ``rows`` are (pseudonym, categories)."""
    by_pseudonym = {p: set(c) for p, c in rows}
    every = set().union(*by_pseudonym.values()) if by_pseudonym else set()
    columns = person_columns(every)
    org_columns = organization_columns(every)
    people = {
        row["pseudonym"]: row
        for row in Person.objects.filter(pseudonym__in=list(by_pseudonym)).values(
            "id", "pseudonym", *columns, *(f"organization__{c}" for c in org_columns)
        )
    }
    answers: dict[int, list[dict[str, Any]]] = {}
    if FORM_ANSWERS in every and form_id is not None:
        sub_columns = submission_columns(every)
        for sub in (
            FormSubmission.objects.filter(form_id=form_id, person_id__in=[p["id"] for p in people.values()])
            .order_by("submitted_at", "pk")
            .values("person_id", *sub_columns)
        ):
            answers.setdefault(sub["person_id"], []).append(sub)
    records = []
    for pseudonym, categories in rows:
        person = people.get(pseudonym)
        if person is None:
            continue  # erased since: nothing of theirs goes
        cats = set(categories)
        allowed = set(person_columns(cats))
        record: dict[str, Any] = {"reference": str(pseudonym)}
        for name in columns:
            if name in allowed:
                record[name] = person[name] or ""
        if org_columns and set(organization_columns(cats)):
            record["organisation"] = {c: person[f"organization__{c}"] or "" for c in org_columns}
        if FORM_ANSWERS in cats and person["id"] in answers:
            record["form_answers"] = [
                {
                    k: (_answers(v, cats) if k == "answers" else v)
                    for k, v in sub.items()
                    if k != "person_id" and k in submission_columns(cats)
                }
                for sub in answers[person["id"]]
            ]
        records.append(record)
    return records


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def as_json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, default=_jsonable, ensure_ascii=False, sort_keys=False, indent=1).encode()


# A cell that a spreadsheet would run as a formula starts with one of these (OWASP: CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d[\d ]*(\.\d+)?$")


def neutralise(value: Any) -> str:
    """A cell a spreadsheet shows as text: a value that starts like a formula gets a leading
    apostrophe, unless it is a plain number (a phone number in E.164 stays as it is)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def as_csv(records: Sequence[Mapping[str, Any]]) -> bytes:
    """The records as CSV (UTF-8 with a byte order mark, so spreadsheets read it as UTF-8).
    The organisation's fields become ``organisation_<field>`` columns; the form answers one
    JSON column. Every cell is neutralised against formula injection."""
    header: list[str] = []
    flat_rows = []
    for record in records:
        flat: dict[str, Any] = {}
        for key, value in record.items():
            if key == "organisation" and isinstance(value, Mapping):
                for sub, v in value.items():
                    flat[f"organisation_{sub}"] = v
            elif isinstance(value, list | dict):
                flat[key] = json.dumps(value, default=_jsonable, ensure_ascii=False)
            else:
                flat[key] = value
        for key in flat:
            if key not in header:
                header.append(key)
        flat_rows.append(flat)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header or ["reference"])
    for flat in flat_rows:
        writer.writerow([neutralise(flat.get(key, "")) for key in header])
    return ("\ufeff" + out.getvalue()).encode()
