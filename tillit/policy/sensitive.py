"""The sensitive data guard: does a free text hold data that must not be kept in the profile?

Policy §16: "Sensitive personal data should not be sent by e-mail" (GDPR art. 9 special
categories, and national identity numbers, which the policy never collects, §4). Every free
text that enters (email bodies, call notes, later form answers and chat) is scanned here; a
hit is held back in quarantine by ``people.services`` and shown to the privacy officer, not
put on the timeline.

Pure: no database, no clock, no I/O. ``scan`` returns ``Finding``s that say *what kind* of
data was found and *where* (a character span), never the matched value, so a finding can be
logged, audited or put in an exception message without leaking what it found.

Numbers are found as candidate digit runs (spaces and dashes allowed where people write them)
and then validated with python-stdnum, so random digits, phone numbers (``+47 412 34 567``)
and organisation numbers (``923 130 969``) do not trigger:

- ``national_id_no``: Norwegian fødselsnummer, D- and H-numbers and FH-numbers (11 digits,
  both mod-11 check digits, a real birth date);
- ``national_id_se``: Swedish personnummer and samordningsnummer (10 or 12 digits, a real
  date, Luhn). An unseparated 10-digit run starting with 0 is read as a phone number;
- ``payment_card``: 13 to 19 digits, Luhn-valid, with a known issuer prefix and a length that
  issuer uses;
- ``iban``: checksum (mod 97) and the country's account format.

Special categories (GDPR art. 9) are found with term lists per language (en, sv, nb), matched
as whole words, case-insensitively unless a term is listed as case-sensitive (a word that is
also a first name, "Kristen", only counts in lower case). Terms are chosen to avoid common
business words: "union" alone, "party", "health", "diagnose" and "church" are not terms;
"trade union", "sick leave" and "Arbeiderpartiet" are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from stdnum import exceptions as stdnum_errors
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.no import fodselsnummer
from stdnum.se import personnummer

NATIONAL_ID_NO: Final = "national_id_no"
NATIONAL_ID_SE: Final = "national_id_se"
PAYMENT_CARD: Final = "payment_card"
IBAN: Final = "iban"
SPECIAL_CATEGORY: Final = "special_category"
KINDS: Final = (NATIONAL_ID_NO, NATIONAL_ID_SE, PAYMENT_CARD, IBAN, SPECIAL_CATEGORY)

HEALTH: Final = "health"
RELIGION: Final = "religion"
TRADE_UNION: Final = "trade_union"
ETHNICITY: Final = "ethnicity"
SEXUAL_ORIENTATION: Final = "sexual_orientation"
POLITICAL_OPINION: Final = "political_opinion"
CATEGORIES: Final = (HEALTH, RELIGION, TRADE_UNION, ETHNICITY, SEXUAL_ORIENTATION, POLITICAL_OPINION)


@dataclass(frozen=True, slots=True)
class Finding:
    """One hit: what kind of data, which special category (for ``special_category``), and the
    character span ``[start, end)`` in the scanned text. Never the value itself."""

    kind: str
    start: int
    end: int
    category: str | None = None

    @property
    def label(self) -> str:
        """``"iban"`` or ``"special_category:health"``: safe for audit records and logs."""
        return f"{self.kind}:{self.category}" if self.category else self.kind


# --- special categories -------------------------------------------------------------------
# Each term is a regular-expression fragment matched as a whole word (case-insensitive); a
# space matches any run of whitespace. Inflections are written out (``\w*`` only where every
# continuation is still the sensitive word: "kreft" has an explicit list, because "krefter"
# means "forces"). Terms under ``CASE_SENSITIVE_TERMS`` only count as written.
TERMS: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = {
    HEALTH: {
        "en": (
            r"\w*cancer\w*",
            r"\w*diabet\w*",
            r"tumou?rs?",
            r"chemotherapy",
            r"hiv",
            r"pregnan\w*",
            r"sick (?:leave|note)",
            r"illness\w*",
            r"diagnosed with",
            r"depression",
            r"depressive",
            r"burn-?out",
            r"burn(?:ed|t) out",
            r"mental (?:health|illness|disorder)\w*",
            r"\w*allerg(?:y|ies|ic)",
            r"disabilit(?:y|ies)",
            r"wheelchair\w*",
        ),
        "nb": (
            r"\w*kreft(?:en|syk\w*|pasient\w*|behandling\w*|diagnose\w*|svulst\w*)?",
            r"\w*diabet\w*",
            r"gravid\w*",
            r"svangerskap\w*",
            r"syke?meld\w*",
            r"sykdom\w*",
            r"depresjon\w*",
            r"deprimert\w*",
            r"angst\w*",
            r"utbrent\w*",
            r"psykisk\w* (?:helse|syk\w*|lidelse\w*|plage\w*)",
            r"cellegift\w*",
            r"strålebehandling\w*",
            r"\w*allergi\w*",
            r"allergisk\w*",
            r"funksjonsnedsett\w*",
            r"rullestol\w*",
        ),
        "sv": (
            r"\w*cancer\w*",
            r"\w*diabet\w*",
            r"gravid\w*",
            r"sjukskriv\w*",
            r"sjukskrev\w*",
            r"sjukdom\w*",
            r"deprimerad\w*",
            r"utbränd\w*",
            r"utmattningssyndrom\w*",
            r"psykisk\w* ohälsa",
            r"cellgift\w*",
            r"strålbehandling\w*",
            r"funktionsnedsätt\w*",
            r"rullstol\w*",
        ),
    },
    RELIGION: {
        "en": (
            r"religio(?:n|ns|us)",
            r"muslims?",
            r"islam(?:ic)?",
            r"christianity",
            r"jews?",
            r"jewish",
            r"judaism",
            r"hindus?",
            r"hinduism",
            r"buddhis(?:m|ts?)",
            r"sikhs?",
            r"catholics?",
            r"protestants?",
            r"atheis(?:m|ts?)",
            r"mosques?",
            r"synagogues?",
        ),
        "nb": (
            r"religi(?:on\w*|øs\w*)",
            r"muslim\w*",
            r"islam(?:sk\w*)?",
            r"kristendom\w*",
            r"jøde\w*",
            r"jødisk\w*",
            r"hindu\w*",
            r"buddhis\w*",
            r"katolikk\w*",
            r"katolsk\w*",
            r"ateist\w*",
            r"moské\w*",
            r"trossamfunn\w*",
            r"frikirke\w*",
        ),
        "sv": (
            r"religi(?:on\w*|ös\w*)",
            r"muslim\w*",
            r"islam(?:sk\w*|isk\w*)?",
            r"kristendom\w*",
            r"judar\w*",
            r"judisk\w*",
            r"judendom\w*",
            r"hindu\w*",
            r"buddhis\w*",
            r"katolik\w*",
            r"katolsk\w*",
            r"ateist\w*",
            r"moské\w*",
            r"trossamfund\w*",
            r"frikyrk\w*",
        ),
    },
    TRADE_UNION: {
        "en": (
            r"(?:trade|labou?r) unions?",
            r"union (?:member\w*|rep|reps|representatives?|dues)",
            r"shop stewards?",
            r"unioni[sz]ed",
        ),
        "nb": (
            r"fagforening\w*",
            r"fagforbund\w*",
            r"fagorganisert\w*",
            r"tillitsvalgt\w*",
            r"lo-medlem\w*",
            r"fellesforbundet",
        ),
        "sv": (
            r"fackförbund\w*",
            r"fackförening\w*",
            r"facklig\w*",
            r"fackmedlem\w*",
            r"fackansl\w*",
        ),
    },
    ETHNICITY: {
        "en": (
            r"ethnic\w*",
            r"racial\w*",
            r"skin colou?r",
            r"immigrant background",
        ),
        "nb": (
            r"etnisk\w*",
            r"etnisitet\w*",
            r"hudfarge\w*",
            r"innvandrerbakgrunn\w*",
            r"minoritetsbakgrunn\w*",
            r"samisk\w*",
            r"kvensk\w*",
        ),
        "sv": (
            r"etnisk\w*",
            r"etnicitet\w*",
            r"hudfärg\w*",
            r"invandrarbakgrund\w*",
            r"utländsk bakgrund",
            r"samisk\w*",
            r"romsk\w*",
        ),
    },
    SEXUAL_ORIENTATION: {
        "en": (
            r"gays?",
            r"lesbians?",
            r"bisexual\w*",
            r"homosexual\w*",
            r"queer",
            r"sexual orientation",
            r"lgbt\w*",
        ),
        "nb": (
            r"homofil\w*",
            r"bifil\w*",
            r"lesbisk\w*",
            r"lesbe(?:n|r|ne)?",
            r"seksuell\w* (?:orientering|legning)",
            r"legning",
            r"lhbt\w*",
        ),
        "sv": (
            r"homosexuell\w*",
            r"bisexuell\w*",
            r"lesbisk\w*",
            r"sexuell\w* (?:läggning|orientering)",
            r"hbtq?\w*",
        ),
    },
    POLITICAL_OPINION: {
        "en": (
            r"political (?:opinions?|views?|affiliations?|beliefs?)",
            r"party member\w*",
            r"(?:labou?r|conservative|democratic|republican|green) party",
        ),
        "nb": (
            r"partimedlem\w*",
            r"politisk\w* (?:ståsted|syn|overbevisning|tilhørighet)",
            r"arbeiderpartiet\w*",
            r"fremskrittspartiet\w*",
            r"senterpartiet\w*",
            r"sosialistisk venstreparti\w*",
            r"kristelig folkeparti\w*",
            r"miljøpartiet\w*",
        ),
        "sv": (
            r"partimedlem\w*",
            r"politisk\w* (?:åsikt\w*|tillhörighet|övertygelse)",
            r"socialdemokraterna\w*",
            r"sverigedemokraterna\w*",
            r"moderaterna\w*",
            r"vänsterpartiet\w*",
            r"centerpartiet\w*",
            r"kristdemokraterna\w*",
            r"liberalerna\w*",
            r"miljöpartiet\w*",
        ),
    },
}

# Words that are also names or everyday words when capitalised or upper-cased: "Kristen" is a
# first name, "aids" an everyday word; they only count exactly as written here.
CASE_SENSITIVE_TERMS: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = {
    HEALTH: {"en": (r"AIDS",)},
    RELIGION: {"nb": (r"kristen", r"kristne"), "sv": (r"kristen", r"kristna", r"jude")},
}


def _accent_tolerant(fragment: str) -> str:
    """Let "ö" also match "o" + combining diaeresis (text pasted from some mail clients is
    decomposed), so spans stay positions in the text as given."""
    out = []
    for ch in fragment:
        decomposed = unicodedata.normalize("NFD", ch)
        out.append(f"(?:{ch}|{decomposed})" if len(decomposed) > 1 else ch)
    return "".join(out)


def _compile(terms: Mapping[str, tuple[str, ...]], flags: int) -> re.Pattern[str] | None:
    fragments = [_accent_tolerant(term).replace(" ", r"\s+") for language in terms.values() for term in language]
    if not fragments:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(fragments) + r")(?!\w)", flags)


_TERM_PATTERNS: Final = tuple(
    (category, pattern)
    for category in CATEGORIES
    for pattern in (
        _compile(TERMS.get(category, {}), re.IGNORECASE),
        _compile(CASE_SENSITIVE_TERMS.get(category, {}), 0),
    )
    if pattern is not None
)

# --- numbers --------------------------------------------------------------------------------
# ASCII digits only ([0-9], not \d): other scripts' digits are not identity numbers. A run
# directly after "+" is a phone number in international form, never an identity number.
_NO_FNR = re.compile(r"(?<![0-9+])[0-9]{6}[ -]?[0-9]{5}(?![0-9])")
_SE_PNR = re.compile(r"(?<![0-9+])(?:[0-9]{8}|[0-9]{6})[-+]?[0-9]{4}(?![0-9])")
_CARD = re.compile(
    r"(?<![0-9+])(?:"
    r"[0-9]{13,19}"  # unseparated
    r"|[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{1,3})?"  # 4-4-4-4(-3)
    r"|[0-9]{4}([ -])[0-9]{6}\2[0-9]{4,5}"  # 4-6-5 (American Express), 4-6-4 (Diners)
    r")(?![0-9])"
)
# Two letters, two check digits, then 11 to 30 letters or digits, optionally in groups.
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?:[ -]?[A-Za-z0-9]){11,30}")
_IBAN_GROUP = re.compile(r"[A-Za-z0-9]+")


def _is_fodselsnummer(digits: str) -> bool:
    """A Norwegian fødselsnummer (or D-, H- or FH-number): both check digits right (stdnum)
    and, except for FH-numbers (which carry no date by design), a real birth date. The date is
    not compared with today, so the answer never changes with the clock."""
    if fodselsnummer.calc_check_digit1(digits) != digits[9] or fodselsnummer.calc_check_digit2(digits) != digits[10]:
        return False
    if int(digits[0]) >= 8:
        return True
    try:
        fodselsnummer.get_birth_date(digits)
    except (stdnum_errors.ValidationError, ValueError):
        return False
    return True


def _is_real_date(year: int, month: int, day: int) -> bool:
    if day > 60:  # samordningsnummer: day + 60
        day -= 60
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    days = (
        31,
        29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    )
    return day <= days[month - 1]


def _is_personnummer(candidate: str) -> bool:
    """A Swedish personnummer or samordningsnummer: Luhn over the last ten digits (stdnum)
    and a real date (for the ten-digit form, in either possible century)."""
    compact = personnummer.compact(candidate)
    digits = compact.replace("-", "").replace("+", "")
    if len(digits) == 10 and candidate.isdigit() and candidate.startswith("0"):
        return False  # written like a Swedish phone number (070 ...), not like an identity number
    if not luhn.is_valid(digits[-10:]):
        return False
    if len(digits) == 12:
        return _is_real_date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    yy, month, day = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    return _is_real_date(1900 + yy, month, day) or _is_real_date(2000 + yy, month, day)


def _is_payment_card(digits: str) -> bool:
    """Luhn-valid (stdnum), with an issuer prefix (IIN) and a length that issuer uses."""
    length = len(digits)
    if not luhn.is_valid(digits):
        return False
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":  # Visa
        return length in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:  # Mastercard
        return length == 16
    if two in (34, 37):  # American Express
        return length == 15
    if 3528 <= four <= 3589:  # JCB
        return 16 <= length <= 19
    if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:  # Diners Club
        return 14 <= length <= 16
    if digits[0] in "56":  # Maestro, Discover, UnionPay
        return 13 <= length <= 19
    return False


def _numbers(text: str) -> Iterator[Finding]:
    ibans = list(_ibans(text))
    yield from ibans

    def inside_iban(match: re.Match[str]) -> bool:
        return any(f.start <= match.start() and match.end() <= f.end for f in ibans)

    for match in _NO_FNR.finditer(text):
        digits = match.group().replace(" ", "").replace("-", "")
        if not inside_iban(match) and _is_fodselsnummer(digits):
            yield Finding(NATIONAL_ID_NO, match.start(), match.end())
    for match in _SE_PNR.finditer(text):
        if not inside_iban(match) and _is_personnummer(match.group()):
            yield Finding(NATIONAL_ID_SE, match.start(), match.end())
    for match in _CARD.finditer(text):
        digits = match.group().replace(" ", "").replace("-", "")
        if not inside_iban(match) and _is_payment_card(digits):
            yield Finding(PAYMENT_CARD, match.start(), match.end())


def _ibans(text: str) -> Iterator[Finding]:
    """IBAN candidates are taken greedily (they may run into the next word), then shortened a
    group at a time until one validates."""
    for match in _IBAN.finditer(text):
        groups = list(_IBAN_GROUP.finditer(match.group()))
        for count in range(len(groups), 0, -1):
            end = groups[count - 1].end()
            compact = "".join(g.group() for g in groups[:count]).upper()
            if len(compact) < 15:  # the shortest IBAN (Norway) has 15 characters
                break
            if len(compact) <= 34 and stdnum_iban.is_valid(compact):
                yield Finding(IBAN, match.start(), match.start() + end)
                break


def _special_categories(text: str) -> Iterator[Finding]:
    for category, pattern in _TERM_PATTERNS:
        for match in pattern.finditer(text):
            yield Finding(SPECIAL_CATEGORY, match.start(), match.end(), category)


def scan(text: str) -> list[Finding]:
    """Everything in ``text`` that the guard holds back (§16, GDPR art. 9), in text order.
    Never raises on any string; an empty list means the text may go on the timeline."""
    if not text:
        return []
    findings = {*_numbers(text), *_special_categories(text)}
    return sorted(findings, key=lambda f: (f.start, f.end, f.kind, f.category or ""))


def kinds(findings: list[Finding]) -> list[str]:
    """The distinct kinds found, sorted: what an audit record may say about a hit."""
    return sorted({f.kind for f in findings})
