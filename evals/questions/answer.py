"""Reading an answer the way the answer-format contract writes it.

* a clarification or refusal: the first line starts with `Not answered:` (the offline planner's
  older "The offline planner (no LLM) cannot …" counts too);
* a figure answer: `Understood: …` first, then body lines: `Total: USD 1,234.56.`, rows
  `- <label>: USD x` (labels joined with ` / `; with a time grain the label starts with the
  period's date), growth rows `- <label>: USD cur vs USD prev (delta USD +d, +p%)`,
  `Share: 12.3% of …`, `Unit cost: USD 0.0231 per GB-Mo`.

Money is `CCC 1,234.56`: a three-letter currency, thousands commas, two or more decimals, a
minus after the currency. Anything else is not read as money.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["REFUSAL_PREFIXES", "AnswerRow", "ParsedAnswer", "money_in", "parse_answer"]

REFUSAL_PREFIXES = ("Not answered:", "The offline planner (no LLM) cannot")
_MONEY = re.compile(r"(?<![A-Za-z])([A-Z]{3}) (-?(?:\d{1,3}(?:,\d{3})+|\d{1,3})\.\d{2,})(?!\d)")
_ROW = re.compile(r"^\s*- (?P<label>.+?): (?P<rest>[A-Z]{3} -?[\d,]+\.\d{2,}.*)$")
_PERCENT = re.compile(r"(-?\d+(?:\.\d+)?)\s?%")
_DATE_HEAD = re.compile(r"^(\d{4}-\d{2}(?:-\d{2})?)(?!\d)")


def money_in(text: str) -> list[Decimal]:
    """Every contract-formatted money figure in `text`, in order (`USD -1,234.50` → -1234.50)."""
    return [Decimal(amount.replace(",", "")) for _, amount in _MONEY.findall(text)]


def normalize_label(label: str) -> str:
    """Case and spacing folded; a segment starting with a date keeps only the date."""
    parts = []
    for segment in label.split(" / "):
        segment = " ".join(segment.split()).casefold()
        head = _DATE_HEAD.match(segment)
        parts.append(head.group(1) if head else segment)
    return " / ".join(parts)


@dataclass(frozen=True)
class AnswerRow:
    """One `- label: USD …` line: the label and its money figures in order."""

    label: str
    amounts: list[Decimal]

    @property
    def other(self) -> bool:
        return self.label.strip().casefold() in ("(other)", "other", "(others)", "others")


@dataclass
class ParsedAnswer:
    """The parts of an answer the scorer reads."""

    first_line: str
    refusal: bool
    understood: bool
    total: Decimal | None = None
    share: Decimal | None = None
    unit: Decimal | None = None
    rows: list[AnswerRow] = field(default_factory=list)

    @property
    def ranked(self) -> list[AnswerRow]:
        """The rows without a trailing `(other)`."""
        return [r for r in self.rows if not r.other]

    @property
    def other(self) -> Decimal | None:
        found = [r.amounts[0] for r in self.rows if r.other and r.amounts]
        return found[0] if found else None


def _first(prefix: str, lines: list[str]) -> str | None:
    return next((ln.strip()[len(prefix) :] for ln in lines if ln.strip().startswith(prefix)), None)


def parse_answer(text: str) -> ParsedAnswer:
    """Split an answer into its first line, headline total, share, unit cost and rows."""
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()]
    first = lines[0].strip() if lines else ""
    parsed = ParsedAnswer(
        first_line=first,
        refusal=first.startswith(REFUSAL_PREFIXES),
        understood=first.startswith("Understood:"),
    )
    if parsed.refusal:
        return parsed
    total = _first("Total: ", lines)
    if total is not None and money_in(total):
        parsed.total = money_in(total)[0]
    share = _first("Share: ", lines)
    if share is not None and _PERCENT.search(share):
        parsed.share = Decimal(_PERCENT.findall(share)[0])
    unit = _first("Unit cost: ", lines)
    if unit is not None and money_in(unit):
        parsed.unit = money_in(unit)[0]
    for line in lines[1:]:
        match = _ROW.match(line)
        if match:
            parsed.rows.append(AnswerRow(match["label"].strip(), money_in(match["rest"])))
    return parsed
