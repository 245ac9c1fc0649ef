"""The glossary (docs/glossary.md) fixes one term per legal concept in en, sv and nb; the
catalogues use it (issue 25). A message whose English text names a concept must name it with
the glossary's term in Swedish and Norwegian, and no translation uses a word the glossary
rules out (nb "innsigelse" beside "protest", sv "integritetsmeddelande" beside
"integritetspolicy", "hosta" ...)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.language.catalogue import entries

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"
LANGUAGES = ("sv", "nb")
# Messages whose English wording uses a glossary word for another concept, with the concept the
# glossary gives them instead: the legal hold names its statute ("Legal basis: %(basis)s"), which
# sv calls "lagstöd" and nb "hjemmel" (the glossary's row for the statutory duty).
OTHER_CONCEPT = {"legal basis": re.compile(r"Legal basis: %\(basis\)s")}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")


@dataclass(frozen=True)
class Term:
    concept: str
    pattern: re.Pattern[str]
    stems: dict[str, str]
    never: dict[str, tuple[str, ...]]


def _code(cell: str) -> str:
    match = re.fullmatch(r"`(.*)`", cell.strip())
    return match.group(1).replace("\\|", "|") if match else ""


def glossary() -> list[Term]:
    text = GLOSSARY.read_text(encoding="utf-8")
    table = text.split("## Terms", 1)[1].split("\n## ", 1)[0]
    terms = []
    for line in table.splitlines():
        if not line.startswith("| ") or line.startswith("| ---") or line.startswith("| concept"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        concept, pattern, _sv, _nb, sv_stem, nb_stem, never = cells
        avoid: dict[str, list[str]] = {language: [] for language in LANGUAGES}
        for item in filter(None, (i.strip() for i in never.split(","))):
            language, word = item.split(" ", 1)
            avoid[language].append(word.strip("`"))
        terms.append(
            Term(
                concept=concept,
                pattern=re.compile(_code(pattern), re.I) if _code(pattern) else re.compile(r"(?!)"),
                stems={"sv": _code(sv_stem), "nb": _code(nb_stem)},
                never={language: tuple(words) for language, words in avoid.items()},
            )
        )
    return terms


def test_the_glossary_names_the_key_concepts():
    concepts = " ".join(t.concept for t in glossary())
    for concept in (
        "processor",
        "sub-processor",
        "privacy notice",
        "objection",
        "compelling legitimate grounds",
        "legal basis",
        "consent",
        "legitimate interest",
        "supervisory authority",
        "erasure",
    ):
        assert concept in concepts, concept


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_translation_uses_the_glossary_term(language):
    wrong = []
    catalogue = entries(language) + entries(language, "policy")
    for term in glossary():
        stem = term.stems[language]
        if not stem:
            continue
        used = 0
        for entry in catalogue:
            english = PLACEHOLDER.sub(" ", f"{entry.msgid} {entry.plural}")
            if not term.pattern.search(english):
                continue
            other = OTHER_CONCEPT.get(term.concept.split(" (")[0])
            if other is not None and other.search(entry.msgid):
                continue
            used += 1
            wrong += [
                f"{term.concept}: {entry.msgid!r} -> {text!r} lacks {stem!r}"
                for text in entry.translations
                if stem.lower() not in text.lower()
            ]
        assert used, f"no message names {term.concept}"
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_translation_uses_a_word_the_glossary_rules_out(language):
    found = []
    for term in glossary():
        for word in term.never[language]:
            pattern = re.compile(rf"\b{re.escape(word)}", re.I)
            for entry in entries(language) + entries(language, "policy"):
                found += [f"{word!r} in {text!r}" for text in entry.translations if pattern.search(text)]
    assert not found, "\n".join(found)
