"""A spend question -> one structured `SpendRequest`, or the phrases it could not apply.

Why: a FinOps figure is only as good as the reading of the question. The offline planner reads
a question by explaining every word of it, and nothing else:

- periods come from `tools.timephrases` (relative to the data's as-of day);
- names come from the warehouse's own vocabulary catalog (`tools.vocab`): services, accounts,
  regions, tag values… with the alias table (EC2, RDS, VMs…), exactly matched, never fuzzily;
- the words around the names come from the closed grammar in `agent.offline.lexicon`.

A word that is none of these is *not understood*: the question is answered with a clarification
naming the closest known values and their spend, never with a broader figure. Every applied
phrase is recorded as a `Mention` so the answer can restate how the question was understood.
A follow-up in a thread ("and in December?", "what about Azure?", "by service?") starts from the
previous question's request and changes only what it says.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from agent.offline.lexicon import (
    ASCENDING_RANK,
    CHARGE_CONCEPTS,
    COMPARE_WORDS,
    DECREASE_WORDS,
    DIMENSION_WORDS,
    EDGE_WORDS,
    EXCLUDE_WORDS,
    FILLER,
    FOLLOW_UP_OPENERS,
    GRAIN_WORDS,
    INCREASE_WORDS,
    METRIC_WORDS,
    NUMBER_WORDS,
    RANK_WORDS,
    SHARE_WORDS,
    SPEND_WORDS,
    UNIT_MULTIPLIERS,
    UNIT_QUALIFIERS,
    UNIT_SPELLINGS,
    ChargeConcept,
)
from tools.spend.request import (
    FOCUS_VALUES,
    UNCHECKED_DIMENSIONS,
    RequestFilter,
    SpendRequest,
)
from tools.timephrases import TimeSpan, add_months, parse_time, previous_span

if TYPE_CHECKING:
    from tools.vocab.catalog import Match, Vocabulary

__all__ = ["Clarification", "Mention", "Understanding", "understand"]

MAX_NAME_WORDS = 7
DIMENSION_PRIORITY: tuple[str, ...] = (
    "ProviderName", "ServiceName", "ServiceCategory", "SubAccountName", "SubAccountId",
    "BillingAccountName", "BillingAccountId", "RegionId", "RegionName", "ChargeCategory",
    "ChargeFrequency", "CommitmentDiscountType", "PricingCategory", "SkuId", "SkuMeter",
    "ResourceName", "ResourceId",
)  # fmt: skip
"""When one phrase names values of several dimensions, the earliest here wins (then virtual
tags, then tags); the answer states which was applied."""
PROVIDER_SCOPED = frozenset(
    {"ServiceName", "SubAccountName", "SubAccountId", "BillingAccountName", "BillingAccountId",
     "RegionId", "RegionName", "ResourceId", "ResourceName", "SkuId", "SkuMeter"}
)  # fmt: skip
"""A follow-up naming another provider drops the previous question's filters on these."""
QUALIFIERS = frozenset({"tagged", "labeled", "labelled", "with", "that", "which", "where", "whose",
                        "having", "in", "on", "under", "named", "called"})  # fmt: skip
GROUP_CUES = frozenset(
    {"by", "per", "each", "every", "across", "which", "what", "breakdown", "split", "grouped",
     "broken", "among", "between", "wise", "for-each"}
)  # fmt: skip
DIMENSION_LABELS: dict[str, str] = {
    "ServiceName": "service", "ServiceCategory": "service category", "ProviderName": "provider",
    "SubAccountName": "account", "SubAccountId": "account id", "BillingAccountName":
    "billing account", "BillingAccountId": "billing account id", "RegionId": "region",
    "RegionName": "region", "ResourceId": "resource", "ResourceName": "resource", "SkuId": "SKU",
    "SkuMeter": "meter", "ChargeCategory": "charge category",
}  # fmt: skip
_TOKEN = re.compile(r"[^\s,;!?\"“”()\[\]{}]+")
_EDGE = ".:'’`*"


@dataclass(frozen=True)
class Token:
    text: str
    key: str
    start: int
    end: int


@dataclass
class Mention:
    """One applied name: `EC2` -> ServiceName = Amazon Elastic Compute Cloud (alias)."""

    phrase: str
    dimension: str
    values: list[str]
    how: str
    exclude: bool = False
    within: bool = False


@dataclass
class Clarification:
    """A phrase that could not be applied, why, and the closest known values."""

    phrase: str
    message: str
    closest: list[Match] = field(default_factory=list)


@dataclass
class Understanding:
    """How a question was read: the request (when complete), what was applied, what was not."""

    request: SpendRequest | None
    mentions: list[Mention] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    clarifications: list[Clarification] = field(default_factory=list)
    spend_signal: bool = False
    follow_up: bool = False
    period_label: str | None = None
    compare_label: str | None = None
    period_named: bool = False
    """The question (or the thread it follows) named its period."""

    @property
    def answerable(self) -> bool:
        return self.request is not None and not self.clarifications


def _norm(text: str) -> str:
    return re.sub(r"[\s\-_]+", " ", text.casefold()).strip()


def _tokens(text: str) -> list[Token]:
    out = []
    for m in _TOKEN.finditer(text):
        raw, start = m[0], m.start()
        lead = len(raw) - len(raw.lstrip(_EDGE))
        raw = raw.strip(_EDGE)
        if raw.casefold().endswith(("'s", "’s")) and len(raw) > 2:
            raw = raw[:-2]
        if raw:
            out.append(Token(raw, _norm(raw), start + lead, start + lead + len(raw)))
    return out


def _phrase_table() -> dict[str, tuple[str, Any]]:
    """Every grammar phrase (normalized) -> (kind, payload); longest phrases are tried first."""
    table: dict[str, tuple[str, Any]] = {}
    for word in FILLER | SPEND_WORDS:
        table.setdefault(_norm(word), ("spend" if word in SPEND_WORDS else "filler", None))
    for group, kind in ((INCREASE_WORDS, "increase"), (DECREASE_WORDS, "decrease")):
        for word in group:
            table[_norm(word)] = (kind, None)
    for word in COMPARE_WORDS:
        table[_norm(word)] = ("compare", None)
    for word in SHARE_WORDS:
        table[_norm(word)] = ("share", None)
    for word in EXCLUDE_WORDS:
        table[_norm(word)] = ("exclude", None)
    for word in ("what about", "how about", "same for", "and for", "what of"):
        table[_norm(word)] = ("followup", None)
    for phrase, rank in RANK_WORDS.items():
        table[_norm(phrase)] = ("rank", (rank, phrase in ASCENDING_RANK))
    for phrase, metric in METRIC_WORDS.items():
        table[_norm(phrase)] = ("metric", metric)
    for phrase, grain in GRAIN_WORDS.items():
        table[_norm(phrase)] = ("grain", grain)
    for phrase, dims in DIMENSION_WORDS.items():
        table[_norm(phrase)] = ("dim", dims)
    for phrase, concept in CHARGE_CONCEPTS.items():
        table[_norm(phrase)] = ("concept", concept)
    for word, number in NUMBER_WORDS.items():
        table[word] = ("number", number)
    for word in ("by", "per", "each", "across", "for each", "broken down by", "split by",
                 "grouped by", "breakdown", "break down", "wise", "split", "split across",
                 "spread across", "divided", "distributed", "among"):  # fmt: skip
        table[_norm(word)] = ("cue", None)
    return table


PHRASES = _phrase_table()
MAX_PHRASE_WORDS = max(len(k.split()) for k in PHRASES)


@dataclass
class _Item:
    kind: str
    tokens: list[Token]
    payload: Any = None

    @property
    def text(self) -> str:
        return " ".join(t.text for t in self.tokens)


class _Reader:
    """One pass over the question's tokens, turning each run into a typed item."""

    def __init__(self, text: str, vocab: Vocabulary, consumed: Sequence[tuple[int, int]]):
        self.vocab = vocab
        self.tokens = [
            t for t in _tokens(text) if not any(s <= t.start and t.end <= e for s, e in consumed)
        ]
        self.text = text
        self.tag_words = _tag_dimension_words(vocab)
        self.tokens = [part for t in self.tokens for part in self._split_compound(t)]

    def _split_compound(self, token: Token) -> list[Token]:
        """`usage-only`, `EC2-related`: a hyphenated word that is neither a name nor a grammar
        phrase is read as its parts (a name like `granite-prod` stays whole)."""
        if "-" not in token.text or token.key in PHRASES or token.key in self.tag_words:
            return [token]
        if re.fullmatch(r"[\d\-/.]+", token.text) or self.vocab.lookup(token.text):
            return [token]
        out, offset = [], token.start
        for part in token.text.split("-"):
            if part:
                out.append(Token(part, _norm(part), offset, offset + len(part)))
            offset += len(part) + 1
        return out

    def _contiguous(self, i: int, n: int) -> bool:
        run = self.tokens[i : i + n]
        if len(run) < n:
            return False
        for a, b in itertools.pairwise(run):
            gap = self.text[a.end : b.start]
            if gap.strip(" ,-/&") != "" and not set(gap) <= set(" ,-/&()"):
                return False
        return True

    def _phrase(self, i: int) -> tuple[int, tuple[str, Any]] | None:
        for n in range(min(MAX_PHRASE_WORDS, len(self.tokens) - i), 0, -1):
            if not self._contiguous(i, n):
                continue
            key = " ".join(t.key for t in self.tokens[i : i + n])
            if key in PHRASES:
                return n, PHRASES[key]
            if key in self.tag_words:
                return n, ("dim", self.tag_words[key])
        return None

    def _name(self, i: int, min_words: int) -> tuple[int, list[Match]] | None:
        top = min(MAX_NAME_WORDS, len(self.tokens) - i)
        for n in range(top, min_words - 1, -1):
            run = self.tokens[i : i + n]
            if not self._contiguous(i, n):
                continue
            if n > 1 and (run[0].key in EDGE_WORDS or run[-1].key in EDGE_WORDS):
                continue
            phrase = self.text[run[0].start : run[-1].end]
            matches = self.vocab.lookup(phrase)
            if matches:
                return n, matches
        return None

    def _dimension_word(self, token: Token) -> tuple[str, ...] | None:
        found = PHRASES.get(token.key)
        if found and found[0] == "dim":
            return tuple(found[1])
        return self.tag_words.get(token.key)

    def _unit(self, i: int) -> tuple[int, tuple[list[str], int, str]] | None:
        """`per GB-month`, `per million tokens`, `per instance-hour`: a unit cost, when the unit
        is one the warehouse measures usage in (ConsumedUnit). Returns (tokens, (unit, per,
        phrase))."""
        j, per = i + 1, 1
        if j < len(self.tokens) and self.tokens[j].key in ("a", "one", "an"):
            j += 1
        if j < len(self.tokens) and self.tokens[j].key in UNIT_MULTIPLIERS:
            per = UNIT_MULTIPLIERS[self.tokens[j].key]
            j += 1
        elif j < len(self.tokens) and re.fullmatch(r"[\d,]+", self.tokens[j].text):
            per = int(self.tokens[j].text.replace(",", ""))
            j += 1
        for n in (3, 2, 1):
            run = self.tokens[j : j + n]
            if len(run) < n or not self._contiguous(j, n):
                continue
            phrase = self.text[run[0].start : run[-1].end]
            unit = _consumed_unit(phrase, self.vocab)
            if unit:
                return j + n - i, (unit, max(per, 1), phrase)
        return None

    def _key_value(self, tok: Token) -> list[_Item] | None:
        """`environment=Production`, `team:payments`: a tag key (or virtual tag) and its value."""
        m = re.fullmatch(r"(?P<key>[^=:]+)[=:](?P<value>.+)", tok.text)
        if not m:
            return None
        dims = self.tag_words.get(_norm(m["key"]))
        if not dims:
            return None
        key_tok = Token(m["key"], _norm(m["key"]), tok.start, tok.start + len(m["key"]))
        start = tok.end - len(m["value"])
        value_tok = Token(m["value"], _norm(m["value"]), start, tok.end)
        found = [x for x in self.vocab.lookup(m["value"]) if _in_dims(x.entry.dimension, dims)]
        value = _Item("name", [value_tok], found) if found else _Item("unknown", [value_tok])
        return [_Item("dim", [key_tok], dims), value]

    def _split_dimension_word(self, i: int, n: int, matches: list[Match]) -> list[_Item]:
        """`Search team` matching a tag value `search-team`: when the phrase starts or ends
        with a dimension word and the rest is a value of that dimension ("search" in team),
        read it as that value with its dimension word, the way a person says it."""
        run = self.tokens[i : i + n]
        for word, rest, first in ((run[-1], run[:-1], False), (run[0], run[1:], True)):
            dims = self._dimension_word(word)
            if not dims or not rest:
                continue
            phrase = self.text[rest[0].start : rest[-1].end]
            inside = [m for m in self.vocab.lookup(phrase) if _in_dims(m.entry.dimension, dims)]
            if inside:
                name = _Item("name", rest, inside)
                dim = _Item("dim", [word], dims)
                return [dim, name] if first else [name, dim]
        return [_Item("name", run, matches)]

    def items(self) -> list[_Item]:
        out: list[_Item] = []
        i = 0
        while i < len(self.tokens):
            tok = self.tokens[i]
            unit = self._unit(i) if tok.key in ("per", "a", "each") else None
            if unit:
                n, payload = unit
                out.append(_Item("unit", self.tokens[i : i + n], payload))
                i += n
                continue
            long_name = self._name(i, 2)
            phrase = self._phrase(i)
            if long_name and (phrase is None or long_name[0] > phrase[0]):
                n, matches = long_name
                out.extend(self._split_dimension_word(i, n, matches))
                i += n
                continue
            if phrase and not (phrase[1][0] in ("filler", "spend") and phrase[0] == 1):
                n, (kind, payload) = phrase
                out.append(_Item(kind, self.tokens[i : i + n], payload))
                i += n
                continue
            if re.fullmatch(r"\d+(?:\.\d+)?", tok.key):
                as_name = self._name(i, 1) if len(tok.key) > 3 else None
                if as_name:  # an account id, a SKU number…
                    out.append(_Item("name", [tok], as_name[1]))
                else:
                    out.append(_Item("number", [tok], float(tok.key)))
                i += 1
                continue
            pair = self._key_value(tok)
            if pair:
                out.extend(pair)
                i += 1
                continue
            if phrase:  # a single filler or spend word
                out.append(_Item(phrase[1][0], [tok], None))
                i += 1
                continue
            negated = re.match(r"^non[\s-]?(?P<rest>.+)$", tok.text, re.IGNORECASE)
            short = self._name(i, 1)
            if short:
                out.append(_Item("name", [tok], short[1]))
            elif negated and self.vocab.lookup(negated["rest"]):
                out.append(_Item("exclude", [tok], None))
                sub = Token(
                    negated["rest"], _norm(negated["rest"]), tok.end - len(negated["rest"]), tok.end
                )
                out.append(_Item("name", [sub], self.vocab.lookup(negated["rest"])))
            else:
                out.append(_Item("unknown", [tok], None))
            i += 1
        return out


def _unit_key(text: str) -> str:
    """`GB-Mo`, `GB/Month`, `gb months` -> `gbmonth`; `Hrs`, `instance-hours` -> `hour`."""
    key = re.sub(r"[\s\-_/()]+", " ", text.casefold()).strip()
    words = [w for w in key.split() if w not in UNIT_QUALIFIERS]
    out = []
    for w in words:
        w = UNIT_SPELLINGS.get(w, w)
        if len(w) > 3 and w.endswith("s"):
            w = w[:-1]
        out.append(UNIT_SPELLINGS.get(w, w))
    return "".join(out)


def _consumed_unit(phrase: str, vocab: Vocabulary) -> list[str] | None:
    """Every ConsumedUnit spelling a unit phrase names (`GB-month` is `GB-Mo` on AWS and
    `GB/Month` elsewhere), None when the warehouse measures nothing in that unit."""
    key = _unit_key(phrase)
    if not key:
        return None
    found = [e.value for e in vocab.entries("ConsumedUnit") if _unit_key(e.value) == key]
    return found or None


def _tag_dimension_words(vocab: Vocabulary) -> dict[str, tuple[str, ...]]:
    """Tag keys and virtual tag names as dimension words: "team" -> vtag:team, or every
    spelling of the key (tag:team|Team) when no virtual tag of that name is defined."""
    families: dict[str, list[str]] = {}
    for key in vocab.tag_keys():
        families.setdefault(_norm(key), []).append(key)
    vtags = {_norm(d[5:]): d for d in vocab.dimensions() if d.startswith("vtag:")}
    words: dict[str, tuple[str, ...]] = {}
    for name in set(families) | set(vtags):
        if name in vtags:
            dims: tuple[str, ...] = (vtags[name],)
        else:
            dims = ("tag:" + "|".join(sorted(families[name])),)
        for form in (name, name + "s"):
            if form not in PHRASES:
                words[form] = dims
    return words


def _dimension_rank(dimension: str) -> int:
    if dimension in DIMENSION_PRIORITY:
        return DIMENSION_PRIORITY.index(dimension)
    return len(DIMENSION_PRIORITY) + (0 if dimension.startswith("vtag:") else 1)


def _best(matches: Sequence[Match], hint: Sequence[str] | None) -> list[Match]:
    """The matches of one dimension: the hinted one, else the highest-priority one."""
    pool = list(matches)
    if hint:
        hinted = [m for m in pool if _in_dims(m.entry.dimension, hint)]
        if not hinted:
            return []
        pool = hinted
    dim = min((m.entry.dimension for m in pool), key=_dimension_rank)
    return [m for m in pool if m.entry.dimension == dim]


def _in_dims(dimension: str, dims: Sequence[str]) -> bool:
    for d in dims:
        if d == dimension:
            return True
        tags = d.startswith("tag:") and dimension.startswith("tag:")
        if tags and dimension[4:] in d[4:].split("|"):
            return True
    return False


def _dims_with_values(vocab: Vocabulary, dims: Sequence[str]) -> list[str]:
    present = set(vocab.dimensions())
    out = []
    for d in dims:
        family = d.startswith("tag:") and "|" in d
        if family or d in UNCHECKED_DIMENSIONS or (d in present and vocab.entries(d)):
            out.append(d)
    return out


def _concept_filters(concept: ChargeConcept, vocab: Vocabulary) -> list[RequestFilter] | None:
    """The concept's filters over the values the catalog holds, None when one has no value."""
    out = []
    for dimension, needles in concept.parts:
        values = [
            e.value
            for e in vocab.entries(dimension)
            if any(n in e.value.casefold() for n in needles)
        ]
        if not values:  # a FOCUS value the bills never used: a valid filter, zero spend
            values = [
                v
                for v in FOCUS_VALUES.get(dimension, ())
                if any(n in v.casefold() for n in needles)
            ]
        if not values:
            return None
        out.append(RequestFilter(dimension=dimension, values=values))
    return out


def _dim_label(dims: Sequence[str]) -> str:
    first = dims[0]
    if first.startswith(("tag:", "vtag:")):
        return first.split(":", 1)[1].split("|")[0]
    return DIMENSION_LABELS.get(first, first)


@dataclass
class _State:
    """What the items add up to, before it becomes a request."""

    mentions: list[Mention] = field(default_factory=list)
    filters: list[RequestFilter] = field(default_factory=list)
    by: list[str] = field(default_factory=list)
    clarifications: list[Clarification] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metric: str | None = None
    grain: str | None = None
    top: int | None = None
    ascending: bool = False
    rank: bool = False
    growth: str | None = None
    unit: tuple[list[str], int, str] | None = None
    share: bool = False
    spend: bool = False
    grouped: bool = False
    follow_up: bool = False


def _group_dimension(vocab: Vocabulary, dims: Sequence[str]) -> str | None:
    usable = _dims_with_values(vocab, dims)
    return usable[0] if usable else None


def _read(items: list[_Item], vocab: Vocabulary, text: str) -> _State:
    """Fold the items into one state, in question order (one pass, one table of kinds)."""
    st = _State()
    last_name: _Item | None = None
    attached = _attachments(items)
    hints = {name: tuple(items[dim].payload) for dim, name in attached.items()}
    negate = False
    within = False
    for idx, item in enumerate(items):
        prev = items[idx - 1] if idx else None
        nxt = items[idx + 1] if idx + 1 < len(items) else None
        kind = item.kind
        if kind in ("spend", "metric", "rank", "cue", "grain") or (
            kind == "dim" and idx not in attached  # "excluding account X": still excluded
        ):
            negate = False
        if kind == "spend":
            st.spend = True
            within = False
        elif kind == "metric":
            st.metric, st.spend = item.payload, True
        elif kind == "grain":
            st.grain, st.spend = item.payload, True
        elif kind == "exclude":
            negate = True
        elif kind == "followup":
            st.follow_up = True
        elif kind in ("increase", "decrease", "compare"):
            st.growth = {"increase": "increase", "decrease": "decrease"}.get(
                kind, st.growth or "change"
            )
            st.spend = True
        elif kind == "share":
            st.share, st.spend, within = True, True, True
        elif kind == "rank":
            count, ascending = item.payload
            st.rank, st.ascending, st.spend = True, ascending or st.ascending, True
            if count and st.top is None:
                st.top = count
        elif kind == "number":
            near_rank = (prev and prev.kind == "rank") or (nxt and nxt.kind == "rank")
            counts = _counts_a_dimension(items, idx)
            if (
                (near_rank or counts)
                and float(item.payload).is_integer()
                and 0 < item.payload <= 100
            ):
                st.top = int(item.payload)
                st.rank = st.rank or counts
            else:
                st.clarifications.append(
                    Clarification(
                        item.text, f"the number {item.text!r} does not say what it counts"
                    )
                )
        elif kind == "dim":
            if idx in attached:
                continue  # read with the name beside it ("service Glu", "payments team")
            if prev and prev.kind == "filler" and prev.tokens[0].key in ("no", "without", "any"):
                _apply_unowned(st, item, vocab, negate, within)
                continue
            dim = _group_dimension(vocab, item.payload)
            if dim is None:
                st.clarifications.append(
                    Clarification(
                        item.text,
                        f"the warehouse has no {item.text} dimension with values"
                        + _tag_hint(vocab),
                    )
                )
                continue
            plural = item.tokens[-1].key.endswith("s") and not _qualified(items, idx)
            cue = _cue_before(items, idx) or st.rank or plural
            if cue and dim not in st.by:
                st.by.append(dim)
                st.grouped = True
        elif kind == "unit":
            st.unit, st.spend = item.payload, True
        elif kind == "concept":
            st.spend = True
            concept: ChargeConcept = item.payload
            found = _concept_filters(concept, vocab)
            if found is None:
                st.clarifications.append(
                    Clarification(
                        item.text,
                        f"the warehouse holds no {concept.label} "
                        f"({' and '.join(d for d, _ in concept.parts)} has no such value)",
                    )
                )
                continue
            for f in found:
                f = f.model_copy(update={"exclude": negate})
                st.filters.append(f)
                st.mentions.append(
                    Mention(item.text, f.dimension, f.values, "charge words", negate, within)
                )
        elif kind == "name":
            hint = hints.get(idx)
            chosen = _best(item.payload, hint)
            if not chosen:
                st.clarifications.append(_unknown(item.text, vocab, hint))
                continue
            clash = _coordinated_clash(last_name, item, chosen, text, st, negate)
            if clash:
                st.clarifications.append(clash)
            _apply_name(st, item.text, chosen, vocab, negate, within)
            last_name = item
        elif kind == "unknown":
            st.clarifications.append(_unknown(item.text, vocab, hints.get(idx)))
    st.clarifications = _dedupe(st.clarifications)
    return st


def _counts_a_dimension(items: list[_Item], idx: int) -> bool:
    """`3 accounts`, `5 AWS services`: a number counting the dimension right after it."""
    for nxt in items[idx + 1 : idx + 3]:
        if nxt.kind == "dim":
            return True
        if nxt.kind != "name":
            return False
    return False


def _qualified(items: list[_Item], idx: int) -> bool:
    """`resources tagged …`, `services in us-east-1`: a plural noun narrowed by what follows,
    not a request to group by it."""
    nxt = items[idx + 1] if idx + 1 < len(items) else None
    return bool(nxt and nxt.kind == "filler" and nxt.tokens[0].key in QUALIFIERS)


def _apply_unowned(st: _State, item: _Item, vocab: Vocabulary, negate: bool, within: bool) -> None:
    """`no team`, `without an owner`: the rows the dimension leaves unallocated (a virtual
    tag's own `unallocated` value when it has one, else rows without the tag)."""
    dim = _group_dimension(vocab, item.payload) or item.payload[0]
    values = ["(none)"]
    if dim.startswith("vtag:"):
        named = [e.value for e in vocab.entries(dim) if e.value.casefold() == "unallocated"]
        values = named or values
    st.filters.append(RequestFilter(dimension=dim, values=values, exclude=negate))
    st.mentions.append(Mention(f"no {item.text}", dim, values, "no value", negate, within))
    st.spend = True


def _dedupe(items: Iterable[Clarification]) -> list[Clarification]:
    seen: dict[str, Clarification] = {}
    for c in items:
        seen.setdefault(c.phrase.casefold(), c)
    return list(seen.values())


def _cue_before(items: list[_Item], idx: int) -> bool:
    """Whether the dimension word at `idx` is asked to group by: `by service`, `per account`,
    `which region`, `top 5 services`, `by month and provider` (a list after one cue)."""
    j = idx - 1
    while j >= 0:
        item = items[j]
        key = item.tokens[0].key
        if item.kind in ("cue", "rank", "grain") or (
            item.kind in ("filler", "number") and key in GROUP_CUES
        ):
            return True
        if (
            item.kind == "dim"
            or item.kind == "number"
            or (
                item.kind == "filler" and key in ("and", "then", "the", "&", "each", "every", "our")
            )
        ):
            j -= 1
            continue
        break
    after = items[idx + 1] if idx + 1 < len(items) else None
    return bool(after and after.kind == "cue" and after.tokens[0].key not in ("by", "per"))


_COORDINATION = re.compile(r"\s*(?:,|and|or|&|\+|plus|as well as)\s*(?:the\s+)?", re.IGNORECASE)


def _coordinated_clash(
    last: _Item | None, item: _Item, chosen: list[Match], text: str, st: _State, negate: bool
) -> Clarification | None:
    """ "Claude and Snowflake" where one is a service and the other a provider: one figure would
    need a union of two dimensions, so say so instead of intersecting them (USD 0)."""
    if last is None or negate or not st.mentions:
        return None
    previous = st.mentions[-1]
    if previous.exclude or previous.dimension == chosen[0].entry.dimension:
        return None
    gap = text[last.tokens[-1].end : item.tokens[0].start]
    if not _COORDINATION.fullmatch(gap):
        return None
    return Clarification(
        f"{last.text} / {item.text}",
        f"{last.text!r} is a {_dim_label([previous.dimension])} value and {item.text!r} a "
        f"{_dim_label([chosen[0].entry.dimension])} value: one figure can't add up two "
        "dimensions; ask for each one",
    )


def _has_dim(item: _Item, dims: Sequence[str]) -> bool:
    return any(_in_dims(m.entry.dimension, dims) for m in item.payload)


def _attachments(items: list[_Item]) -> dict[int, int]:
    """Dimension words that qualify the name beside them (dim index -> name index).

    "service Glu" and "account granite-prod" qualify the name after them; "the payments team"
    and "Glu service" the name before them when it is a value of that dimension (or unknown).
    A dimension word after a group cue ("by account") or beside a name of another dimension
    ("AWS accounts") is a grouping instead.
    """
    out: dict[int, int] = {}
    for idx, item in enumerate(items):
        if item.kind != "dim" or _cue_before(items, idx):
            continue
        dims = item.payload
        nxt = items[idx + 1] if idx + 1 < len(items) else None
        prev = items[idx - 1] if idx else None
        taken = set(out.values())
        if nxt and (nxt.kind == "unknown" or (nxt.kind == "name" and _has_dim(nxt, dims))):
            out[idx] = idx + 1
        elif (
            prev
            and idx - 1 not in taken
            and (prev.kind == "unknown" or (prev.kind == "name" and _has_dim(prev, dims)))
        ):
            out[idx] = idx - 1
    return out


def _tag_hint(vocab: Vocabulary) -> str:
    keys = vocab.tag_keys()[:8]
    return f"; tag keys: {', '.join(keys)}" if keys else "; it has no tags"


def _unknown(phrase: str, vocab: Vocabulary, hint: Sequence[str] | None) -> Clarification:
    dims = [d for d in (hint or ()) if d in vocab.dimensions()] or None
    closest = vocab.closest(phrase, dims, limit=3) if dims else vocab.closest(phrase, limit=3)
    if hint:
        return Clarification(phrase, f"I found no {_dim_label(hint)} called {phrase!r}", closest)
    known = _known_elsewhere(phrase)
    if known:
        message = f"{phrase!r} means {known}, which has no rows in the warehouse"
        return Clarification(phrase, message, closest)
    return Clarification(
        phrase,
        f"I don't know {phrase!r}: it is neither a name in the warehouse nor a word I read",
        closest,
    )


def _known_elsewhere(phrase: str) -> str | None:
    """`Azure` on an AWS-only warehouse: a name the alias table knows, absent from the data."""
    from tools.vocab.aliases import key, load_aliases

    found = load_aliases().keyed().get(key(phrase))
    if not found:
        return None
    section, group = found[0]
    return f"{group.title} ({_dim_label(section.dimensions)})"


def _apply_name(
    st: _State, phrase: str, chosen: list[Match], vocab: Vocabulary, negate: bool, within: bool
) -> None:
    dimension = chosen[0].entry.dimension
    values = sorted({m.entry.value for m in chosen})
    if dimension.startswith("tag:"):
        dimension, values = _tag_family(dimension, values, vocab)
    how = chosen[0].how
    for f in st.filters:
        if f.dimension == dimension and f.exclude == negate:
            f.values.extend(v for v in values if v not in f.values)
            break
    else:
        st.filters.append(RequestFilter(dimension=dimension, values=values, exclude=negate))
    st.mentions.append(Mention(phrase, dimension, values, how, negate, within))


def _tag_family(dimension: str, values: list[str], vocab: Vocabulary) -> tuple[str, list[str]]:
    """A tag value -> the virtual tag of that key when one is defined, else every spelling of
    the key (team, Team) with every spelling of the value (cobalt, Cobalt)."""
    key = _norm(dimension[4:])
    vtag = next(
        (d for d in vocab.dimensions() if d.startswith("vtag:") and _norm(d[5:]) == key), None
    )
    wanted = {v.casefold() for v in values}
    if vtag:
        found = [e.value for e in vocab.entries(vtag) if e.value.casefold() in wanted]
        if found:
            return vtag, sorted(set(found))
    keys = sorted(k for k in vocab.tag_keys() if _norm(k) == key)
    spelled = {
        e.value for k in keys for e in vocab.entries(f"tag:{k}") if e.value.casefold() in wanted
    }
    return "tag:" + "|".join(keys), sorted(spelled or values)


def _period(
    spans: list[TimeSpan], st: _State, vocab: Vocabulary, as_of: date
) -> tuple[dict[str, Any], list[str], list[Clarification]]:
    """The request's window fields (and the comparison window for growth) from the spans."""
    notes = [s.note for s in spans if s.note]
    ordered = sorted(spans, key=lambda s: s.since)
    if st.growth:
        if len(ordered) >= 2:
            prev, cur = ordered[0], ordered[-1]
        elif len(ordered) == 1:
            cur = ordered[0]
            halves = _two_calendar_halves(cur)
            prev, cur = halves if halves else (previous_span(cur), cur)
        else:
            cur = TimeSpan(since=as_of - timedelta(days=6), until=as_of, label="the last 7 days",
                           start=0, end=0, kind="relative")  # fmt: skip
            prev = previous_span(cur)
            notes.append(
                f"no period named: the last 7 days ({cur.since}..{cur.until}) compared with the "
                f"7 days before, the default"
            )
        window = {"since": cur.since, "until": cur.until, "compare_since": prev.since,
                  "compare_until": prev.until}  # fmt: skip
        return window, notes, _coverage([cur, prev], vocab)
    if not ordered:
        span = _default_span(vocab, as_of)
        notes.append(f"no period named: {span.label}, the default")
        return {"since": span.since, "until": span.until}, notes, _coverage([span], vocab)
    if len(ordered) > 1:
        for a, b in itertools.pairwise(ordered):
            if (b.since - a.until).days > 1:
                text = " and ".join(s.label for s in ordered)
                return (
                    {},
                    notes,
                    [
                        Clarification(
                            text,
                            f"two separate periods were named ({text}); "
                            "ask for one, or compare them with 'vs'",
                        )
                    ],
                )
    since, until = ordered[0].since, max(s.until for s in ordered)
    return {"since": since, "until": until}, notes, _coverage(ordered, vocab)


def _labels(spans: Sequence[TimeSpan], st: _State) -> tuple[str | None, str | None]:
    """How the period (and the compared one) was named, for the answer's first line."""
    ordered = sorted(spans, key=lambda s: s.since)
    if not ordered:
        return None, None
    if st.growth:
        if len(ordered) >= 2:
            return ordered[-1].label, ordered[0].label
        halves = _two_calendar_halves(ordered[0])
        if halves:
            return halves[1].label, halves[0].label
        return ordered[0].label, None
    return " + ".join(s.label for s in ordered), None


def _two_calendar_halves(span: TimeSpan) -> tuple[TimeSpan, TimeSpan] | None:
    """`from September to October`, `between Q3 and Q4`, asked as a change: the two calendar
    periods at either end, not one range (months, quarters, halves or years)."""
    if span.kind != "range" or span.since.day != 1:
        return None
    for months, name in ((1, "month"), (3, "quarter"), (6, "half"), (12, "year")):
        if name != "month" and (span.since.month - 1) % months:
            continue
        second = add_months(span.since, months)
        first_end = second - timedelta(days=1)
        second_end = add_months(second, months) - timedelta(days=1)
        if second_end == span.until:
            a = TimeSpan(since=span.since, until=first_end, label=_calendar_label(span.since, name),
                         start=span.start, end=span.end, kind="range")  # fmt: skip
            b = TimeSpan(since=second, until=second_end, label=_calendar_label(second, name),
                         start=span.start, end=span.end, kind="range")  # fmt: skip
            return a, b
    return None


def _calendar_label(start: date, unit: str) -> str:
    if unit == "month":
        return start.strftime("%B %Y")
    if unit == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    if unit == "half":
        return f"H{1 if start.month <= 6 else 2} {start.year}"
    return str(start.year)


def _default_span(vocab: Vocabulary, as_of: date) -> TimeSpan:
    start = as_of.replace(day=1)
    return TimeSpan(since=start, until=as_of, label=f"this month to date ({start}..{as_of})",
                    start=0, end=0, kind="to_date")  # fmt: skip


def _coverage(spans: Sequence[TimeSpan], vocab: Vocabulary) -> list[Clarification]:
    """A period entirely outside the loaded data is a clarification, not a USD 0.00 answer."""
    first, last = vocab.first_day, vocab.last_day
    if first is None or last is None:
        return [
            Clarification(
                "",
                "the warehouse holds no cost data yet; ingest a bill first (`finops ingest FILE`)",
            )
        ]
    out = []
    for span in spans:
        if span.until < first or span.since > last:
            out.append(
                Clarification(
                    span.label,
                    f"there is no cost data for {span.label} ({span.since}..{span.until}): "
                    f"the warehouse holds {first}..{last}",
                )
            )
    return out


_SHIFT = re.compile(
    r"\b(?:the\s+)?(?P<u>day|week|month|quarter|year)\s+(?P<d>after|before|earlier|later)\b"
    r"|\b(?:the\s+)?(?P<d2>next|following|previous|prior|preceding)\s+"
    r"(?P<u2>day|week|month|quarter|year)\b",
    re.IGNORECASE,
)
"""A follow-up moving the previous period: "and the week after?", "the previous month"."""


def _shifted(base: SpendRequest, m: re.Match[str]) -> tuple[dict[str, Any], str]:
    """The previous window moved by one unit (a calendar month moves to the whole next one)."""
    unit = (m["u"] or m["u2"]).lower()
    forward = (m["d"] or m["d2"]).lower() in ("after", "later", "next", "following")
    since, until = base.since, base.until
    if since is None or until is None:
        raise ValueError("a follow-up shift needs the previous window")
    if unit in ("day", "week"):
        step = timedelta(days=1 if unit == "day" else 7) * (1 if forward else -1)
        new_since, new_until = since + step, until + step
    else:
        months = {"month": 1, "quarter": 3, "year": 12}[unit] * (1 if forward else -1)
        new_since = add_months(since.replace(day=1), months)
        new_until = add_months(new_since, abs(months)) - timedelta(days=1)
    label = f"the {unit} {'after' if forward else 'before'} ({new_since}..{new_until})"
    return {"since": new_since, "until": new_until}, label


def _span(window: dict[str, Any], label: str) -> TimeSpan:
    return TimeSpan(since=window["since"], until=window["until"], label=label, start=0, end=0,
                    kind="range")  # fmt: skip


def _merge(base: SpendRequest, st: _State, window: dict[str, Any]) -> SpendRequest:
    """A follow-up: the previous request, changed only where the new question says so."""
    filters = [f.model_copy(deep=True) for f in base.filters]
    for new in st.filters:
        if not new.exclude:
            drop = {new.dimension}
            if new.dimension == "ProviderName":
                drop |= PROVIDER_SCOPED
            filters = [f for f in filters if f.exclude or f.dimension not in drop]
        filters.append(new)
    update: dict[str, Any] = {"filters": filters}
    if window:
        update.update({"compare_since": None, "compare_until": None, **window})
        update["period"] = None
    if st.by:
        update["by"] = st.by
    for name in ("metric", "grain", "top"):
        if getattr(st, name):
            update[name] = getattr(st, name)
    return SpendRequest.model_validate({**base.model_dump(), **update})


def understand(
    question: str,
    vocab: Vocabulary,
    as_of: date,
    previous: Understanding | None = None,
    today: date | None = None,
) -> Understanding:
    """Read a spend question against the catalog; see the module docstring for the rules.

    Example: "What did we spend on EC2 in Oct 2018 by region?" on a CUR warehouse ->
    a request with ServiceName = Amazon Elastic Compute Cloud, 2018-10-01..2018-10-31,
    by RegionId, and a mention recording that "EC2" was read through the alias table.
    """
    timed = parse_time(question, as_of, vocab.months, first_day=vocab.first_day, today=today)
    consumed = [(s.start, s.end) for s in timed.spans] + [(p.start, p.end) for p in timed.problems]
    shift = _SHIFT.search(question) if previous is not None and previous.request else None
    if shift:
        consumed.append(shift.span())
    items = _Reader(question, vocab, consumed).items()
    st = _read(items, vocab, question)
    for problem in timed.problems:
        st.clarifications.append(Clarification(problem.phrase, problem.message))
    names = any(i.kind == "name" for i in items)
    opener = bool(items) and (
        items[0].kind in ("followup", "exclude") or items[0].tokens[0].key in FOLLOW_UP_OPENERS
    )
    subject = names or any(i.kind == "concept" for i in items)
    follow_up = (
        previous is not None
        and previous.request is not None
        and (st.follow_up or opener or not (st.spend or st.rank or st.share or subject))
    )
    signal = (
        st.spend
        or st.grouped
        or st.rank
        or st.share
        or bool(st.by)
        or follow_up
        or (names and bool(timed.spans))
    )
    named = bool(timed.spans) or (follow_up and previous is not None and previous.period_named)
    result = Understanding(request=None, mentions=st.mentions, notes=list(st.notes),
                           clarifications=st.clarifications, spend_signal=signal,
                           follow_up=follow_up, period_named=named)  # fmt: skip
    if not signal:
        return result
    if follow_up and previous is not None and previous.request is not None:
        window: dict[str, Any] = {}
        result.period_label = previous.period_label
        if shift and not timed.spans:
            window, label = _shifted(previous.request, shift)
            result.period_label = label
            result.notes.append(f'"{shift[0]}": {label}')
            result.clarifications.extend(_coverage([_span(window, label)], vocab))
        if timed.spans:
            window, notes, problems = _period(timed.spans, st, vocab, as_of)
            result.notes.extend(notes)
            result.clarifications.extend(problems)
            result.period_label, result.compare_label = _labels(timed.spans, st)
        if result.clarifications:
            return result
        result.request = _merge(previous.request, st, window)
        kept = {(f.dimension, f.exclude, tuple(f.values)) for f in result.request.filters}
        result.mentions = [
            m
            for m in [*previous.mentions, *st.mentions]
            if (m.dimension, m.exclude, tuple(m.values)) in kept
        ]
        result.notes.insert(0, "follow-up: the previous question, changed as asked")
        return result
    window, notes, problems = _period(timed.spans, st, vocab, as_of)
    result.notes.extend(notes)
    result.clarifications.extend(problems)
    result.period_label, result.compare_label = _labels(timed.spans, st)
    if st.ascending:
        result.clarifications.append(
            Clarification("cheapest", "I can rank only from the highest cost down")
        )
    if result.clarifications:
        return result
    by = list(st.by)
    top = st.top
    if (st.rank or st.growth) and not by:
        by = ["ServiceName"]
        result.notes.append("by service (no dimension named)")
    if st.rank and top is None:
        top = 5
    measure = (
        "unit_cost"
        if st.unit
        else "growth"
        if st.growth
        else "share"
        if st.share and st.filters
        else "cost"
    )
    if st.unit:
        result.notes.append(f'"{st.unit[2]}" is usage measured in {" / ".join(st.unit[0])}')
    within = [
        RequestFilter(dimension=m.dimension, values=m.values, exclude=m.exclude)
        for m in st.mentions
        if m.within
    ]
    request = SpendRequest.model_validate(
        {
            **window,
            "measure": measure,
            "metric": st.metric or "billed",
            "by": by,
            "filters": [f.model_dump() for f in st.filters],
            "share_within": [f.model_dump() for f in within] if measure == "share" else [],
            "grain": st.grain or "total",
            "top": top,
            "direction": st.growth if st.growth in ("increase", "decrease") else "change",
            "unit": st.unit[0] if st.unit else None,
            "per": st.unit[1] if st.unit else 1,
        }
    )
    result.request = request
    return result
