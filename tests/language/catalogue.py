"""Read the gettext catalogues (.po) as the tests need them: msgid, msgctxt and msgstr(s)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

LOCALE = Path(__file__).resolve().parents[2] / "locale"
LINE = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (".*")$')


@dataclass(frozen=True)
class Entry:
    context: str | None
    msgid: str
    plural: str
    translations: tuple[str, ...]


def entries(language: str, domain: str = "django") -> list[Entry]:
    result: list[Entry] = []
    parts: dict[str, str] = {}
    key = ""

    def flush() -> None:
        if parts.get("msgid"):
            result.append(
                Entry(
                    context=parts.get("msgctxt"),
                    msgid=parts["msgid"],
                    plural=parts.get("msgid_plural", ""),
                    translations=tuple(v for k, v in sorted(parts.items()) if k.startswith("msgstr")),
                )
            )
        parts.clear()

    for line in (LOCALE / language / "LC_MESSAGES" / f"{domain}.po").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            if "msgstr" in key:
                flush()
                key = ""
            continue
        match = LINE.match(line)
        if match:
            key, text = match.group(1), match.group(2)
            if key in ("msgctxt", "msgid") and any(k.startswith("msgstr") for k in parts):
                flush()
            parts[key] = ast.literal_eval(text)
        elif line.startswith('"') and key:
            parts[key] += ast.literal_eval(line)
    flush()
    return result


def translation(language: str, msgid: str, context: str | None = None, domain: str = "django") -> tuple[str, ...]:
    found = [e for e in entries(language, domain) if e.msgid == msgid and e.context == context]
    assert len(found) == 1, f"{language}: {len(found)} entries for {msgid!r} (context {context!r})"
    return found[0].translations
