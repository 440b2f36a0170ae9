"""Finding catalog entries for a phrase: exact, by label, through the alias table, or fuzzily.

`lookup` never guesses: a phrase matches a value or label when they are equal after `key()`
(case, accents, spaces and punctuation ignored), or when it is a key of the alias table and the
alias's forms are values of the catalog. `closest` is the fuzzy part, for a phrase that matched
nothing: RapidFuzz shortlists values and alias spellings, `_similarity` scores them, best first,
above a cutoff.

Matches are ordered best dimension first (`DIMENSION_ORDER`), then exact before label before
alias, then by spend, so the first match is the most likely reading and the others are what a
caller shows when it asks the user to choose.

The index works on row numbers of the catalog (a catalog of a large bill holds 10⁵ resource ids);
entries are made only for the rows a lookup returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from tools.vocab.aliases import AliasGroup, AliasSection, AliasTable, fold, fuzzy_text, key
from tools.vocab.models import Match, MatchKind, Row, VocabEntry
from tools.vocab.sql import DIMENSION_ORDER

__all__ = ["FUZZY_CUTOFF", "VocabIndex", "dimension_filter", "dimension_rank"]

FUZZY_CUTOFF = 75.0
"""The lowest similarity (0–100, `_similarity`) a suggestion needs: "Glu" → "AWS Glue" scores 90,
"cloud wach" → "AmazonCloudWatch" 80, unrelated words below 70."""

_PREFILTER_CUTOFF = 50.0
"""RapidFuzz's `WRatio` shortlists candidates (fast, in C) before `_similarity` scores them."""

_HOW_RANK: dict[MatchKind, int] = {"exact": 0, "label": 1, "alias": 2, "fuzzy": 3}


def dimension_rank(dimension: str) -> int:
    """Position of a dimension in `DIMENSION_ORDER` (all tags share `tag:`'s, virtual tags
    `vtag:`'s); unknown dimensions last."""
    head = dimension
    if dimension.startswith("tag:"):
        head = "tag:"
    elif dimension.startswith("vtag:"):
        head = "vtag:"
    try:
        return DIMENSION_ORDER.index(head)
    except ValueError:
        return len(DIMENSION_ORDER)


def dimension_filter(dimensions: Sequence[str] | None) -> Callable[[str], bool]:
    """A test for the dimensions to search: names compare case-insensitively; `tag:` (or
    `tag:*`) means every tag key, `vtag:` (or `vtag:*`) every virtual tag. None: all."""
    if not dimensions:
        return lambda _d: True
    wanted = {d.strip().lower().removesuffix("*") for d in dimensions if d.strip()}

    def test(dimension: str) -> bool:
        low = dimension.lower()
        if low in wanted:
            return True
        return any(low.startswith(w) for w in wanted if w in ("tag:", "vtag:"))

    return test


def _order(m: Match) -> tuple[int, int, float, Decimal, str]:
    return (
        dimension_rank(m.entry.dimension),
        _HOW_RANK[m.how],
        -m.score,
        -m.entry.cost,
        m.entry.value,
    )


def _similarity(query: str, choice: str) -> float:
    """How close a phrase is to a name, 0–100: whole-string similarity (with and without spaces,
    and with words reordered), or the phrase as a part of a longer name (discounted).

    Unlike RapidFuzz's `WRatio` it has no token-set component, which scores any two names that
    share one common word ("cloud", "amazon") as near-identical.
    """
    from rapidfuzz import fuzz

    q, c = query.replace(" ", ""), choice.replace(" ", "")
    best = max(
        fuzz.ratio(query, choice), fuzz.ratio(q, c), fuzz.token_sort_ratio(query, choice) * 0.95
    )
    if len(c) > len(q):
        scale = 0.9 if len(c) <= 8 * len(q) else 0.6
        best = max(best, fuzz.partial_ratio(q, c) * scale)
    return float(best)


class VocabIndex:
    """The lookup structures over one catalog's rows (built once per `Vocabulary`).

    `make(i)` turns row `i` into its `VocabEntry` (the vocabulary caches them).
    """

    def __init__(
        self, rows: Sequence[Row], make: Callable[[int], VocabEntry], aliases: AliasTable
    ) -> None:
        self._rows = rows
        self._make = make
        self._by_value: dict[str, list[int]] = {}
        self._by_label: dict[str, list[int]] = {}
        keys = [key(r[1]) for r in rows]
        for i, r in enumerate(rows):
            self._by_value.setdefault(keys[i], []).append(i)
            if r[2]:
                self._by_label.setdefault(key(r[2]), []).append(i)
        groups = list(aliases.entries())
        self._members = _resolve(groups, rows, keys)
        self._alias_keys: dict[str, list[int]] = {}
        self._alias_texts: dict[str, list[int]] = {}
        for g, (_section, group) in enumerate(groups):
            if not self._members[g]:
                continue
            for spelling in (*group.names, *group.aliases):
                if key(spelling):
                    self._alias_keys.setdefault(key(spelling), []).append(g)
                    self._alias_texts.setdefault(fuzzy_text(spelling), []).append(g)
        self._choices: dict[str, list[int]] | None = None

    def lookup(self, phrase: str, dimensions: Sequence[str] | None = None) -> list[Match]:
        """Exact, label and alias matches of `phrase` (never fuzzy), best first."""
        k = key(phrase)
        if not k:
            return []
        keep = dimension_filter(dimensions)
        found: dict[int, MatchKind] = {}

        def add(rows: Sequence[int], how: MatchKind) -> None:
            for i in rows:
                if keep(self._rows[i][0]) and i not in found:
                    found[i] = how

        add(self._by_value.get(k, []), "exact")
        add(self._by_label.get(k, []), "label")
        for g in self._alias_keys.get(k, []):
            add(self._members[g], "alias")
        matches = [
            Match(entry=self._make(i), phrase=phrase, how=how, score=100.0)
            for i, how in found.items()
        ]
        return sorted(matches, key=_order)

    def closest(
        self, phrase: str, dimensions: Sequence[str] | None = None, limit: int = 3
    ) -> list[Match]:
        """Fuzzy suggestions for `phrase`, best first (at most `limit`, score ≥ the cutoff)."""
        from rapidfuzz import fuzz, process  # imported when first used: `finops vocab` starts fast

        query = fuzzy_text(phrase)
        if len(query.replace(" ", "")) < 2 or limit < 1:
            return []
        keep = dimension_filter(dimensions)
        choices = self._fuzzy_choices()
        if dimensions:
            choices = {
                text: kept
                for text, owners in choices.items()
                if (kept := [i for i in owners if keep(self._rows[i][0])])
            }
        shortlist = process.extract(
            query,
            list(choices),
            scorer=fuzz.WRatio,
            limit=max(200, limit * 50),
            score_cutoff=_PREFILTER_CUTOFF,
        )
        best: dict[int, float] = {}
        for text, _prefilter, _n in shortlist:
            score = round(_similarity(query, text), 1)
            if score < FUZZY_CUTOFF:
                continue
            for i in choices[text]:
                best[i] = max(score, best.get(i, 0.0))
        ranked = sorted(
            best.items(),
            key=lambda item: (
                -item[1],
                dimension_rank(self._rows[item[0]][0]),
                -self._rows[item[0]][3],
            ),
        )
        return [
            Match(entry=self._make(i), phrase=phrase, how="fuzzy", score=score)
            for i, score in ranked[:limit]
        ]

    def _fuzzy_choices(self) -> dict[str, list[int]]:
        """Text → the rows it names: values and alias spellings (built once). Labels are left
        out: a label is itself the value of the partner dimension's row."""
        if self._choices is None:
            choices: dict[str, list[int]] = {}
            for i, r in enumerate(self._rows):
                choices.setdefault(fuzzy_text(r[1]), []).append(i)
            for text, groups in self._alias_texts.items():
                for g in groups:
                    choices.setdefault(text, []).extend(self._members[g])
            self._choices = {t: list(dict.fromkeys(rs)) for t, rs in choices.items() if t}
        return self._choices


def _resolve(
    groups: Sequence[tuple[AliasSection, AliasGroup]], rows: Sequence[Row], keys: Sequence[str]
) -> list[list[int]]:
    """For each alias group, the catalog rows its forms name (only values that exist); `keys`
    are the rows' value keys."""
    members: list[list[int]] = [[] for _ in groups]
    exact: dict[tuple[str, str], list[int]] = {}
    patterned: dict[str, list[int]] = {}
    for g, (section, group) in enumerate(groups):
        if section.match == "exact":
            for form in group.forms():
                for dim in section.dimensions:
                    exact.setdefault((dim, key(form)), []).append(g)
        else:
            for dim in section.dimensions:
                patterned.setdefault(dim, []).append(g)
    patterns = {g: groups[g][0].pattern(groups[g][1]) for gs in patterned.values() for g in gs}
    for i, r in enumerate(rows):
        for g in dict.fromkeys(exact.get((r[0], keys[i]), [])):
            members[g].append(i)
        for g in patterned.get(r[0], []):
            pattern = patterns[g]
            if pattern is not None and pattern.fullmatch(fold(r[1]).strip()):
                members[g].append(i)
    return members
