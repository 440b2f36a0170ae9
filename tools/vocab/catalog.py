"""The vocabulary catalog: every value a question can name, with its spend and date range.

For every queryable dimension (providers, services and categories, sub-accounts and billing
accounts by id and name, regions by id and name, resources, SKUs and meters, charge categories
and frequencies, commitment types, pricing categories, `tag:<key>` for each tag key, `vtag:<name>`
for each virtual tag) the catalog holds the distinct values as stored, the other name of the same
thing (`label`), billed cost over all time in the reporting currency, first and last charge day,
and row count. A question parser resolves phrases against it (`lookup`: exact, label or alias,
never a guess) and, for a phrase that matched nothing, offers the closest values (`closest`).

Example::

    vocab = load_vocabulary(engine, config)
    vocab.lookup("EC2")        # [Match(ServiceName=Amazon Elastic Compute Cloud, how=alias)]
    vocab.closest("Glu")       # [Match(ServiceName=AWS Glue, how=fuzzy, score=90.0)]

`load_vocabulary` reads the catalog stored in the warehouse and rebuilds it when the data or the
allocation changed since; `refresh_after_change` is the hook ingest and allocation call (it never
raises). See docs/vocab.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from tools.query import Engine
from tools.settings import ToolSettings
from tools.vocab.aliases import AliasTable, load_aliases
from tools.vocab.index import VocabIndex, dimension_filter, dimension_rank
from tools.vocab.models import CatalogMeta, Match, Row, VocabEntry, VocabRefresh
from tools.vocab.store import (
    Snapshot,
    build_catalog,
    fingerprint,
    stored_meta,
    stored_rows,
    writable,
)
from warehouse.errors import FinopsError

__all__ = [
    "Match",
    "VocabEntry",
    "VocabRefresh",
    "Vocabulary",
    "ensure_vocabulary",
    "load_vocabulary",
    "refresh_after_change",
    "refresh_summary",
    "refresh_vocabulary",
]


class Vocabulary:
    """One catalog in memory: entries by dimension (by cost, highest first) and lookups.

    `currency` is the reporting currency of every `cost`; `first_day`/`last_day` the data range
    of `costs` (None when it is empty); `months` the first day of each month with cost rows.
    """

    def __init__(
        self,
        entries: Sequence[VocabEntry],
        *,
        currency: str,
        first_day: date | None = None,
        last_day: date | None = None,
        months: Sequence[date] = (),
        built_at: datetime | None = None,
        warnings: Sequence[str] = (),
        aliases: AliasTable | None = None,
        engine: Engine | None = None,
        config: ToolSettings | None = None,
    ) -> None:
        self.currency = currency
        self.first_day = first_day
        self.last_day = last_day
        self.months = sorted(months)
        self.built_at = built_at
        self.warnings = list(warnings)
        self._aliases = aliases or load_aliases()
        self._engine = engine
        self._config = config
        rows: list[Row] = [
            (e.dimension, e.value, e.label, e.cost, e.first_day, e.last_day, e.rows)
            for e in entries
        ]
        self._load(rows, list(entries))

    def _load(self, rows: list[Row], made: list[VocabEntry] | None = None) -> None:
        self._rows = rows
        self._made: list[VocabEntry | None] = list(made) if made else [None] * len(rows)
        self._by_dimension: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            self._by_dimension.setdefault(r[0], []).append(i)
        for numbers in self._by_dimension.values():
            numbers.sort(key=lambda i: (-rows[i][3], rows[i][1]))
        self._by_key = {(r[0], r[1]): i for i, r in enumerate(rows)}
        self._folded = {d.lower(): d for d in self._by_dimension}
        self._index: VocabIndex | None = None

    @classmethod
    def from_snapshot(
        cls, snapshot: Snapshot, engine: Engine | None = None, config: ToolSettings | None = None
    ) -> Vocabulary:
        meta: CatalogMeta = snapshot.meta
        vocab = cls(
            (),
            currency=meta.currency,
            first_day=meta.first_day,
            last_day=meta.last_day,
            months=meta.months,
            built_at=meta.built_at,
            warnings=meta.warnings,
            engine=engine,
            config=config,
        )
        if snapshot.rows is None:
            raise ValueError("a catalog built without reading its rows back has no entries")
        vocab._load(snapshot.rows)
        return vocab

    def _entry(self, i: int) -> VocabEntry:
        made = self._made[i]
        if made is None:
            r = self._rows[i]
            made = VocabEntry.model_construct(
                dimension=r[0],
                value=r[1],
                label=r[2],
                cost=r[3],
                first_day=r[4],
                last_day=r[5],
                rows=r[6],
            )
            self._made[i] = made
        return made

    def __len__(self) -> int:
        return len(self._rows)

    def dimensions(self) -> list[str]:
        """Every dimension with at least one value, most commonly meant first."""
        return sorted(self._by_dimension, key=lambda d: (dimension_rank(d), d.lower()))

    def canonical_dimension(self, spec: str) -> str | None:
        """`servicename` → `ServiceName`; None when the catalog has no such dimension. An
        exact name wins: tag keys are case-sensitive (`tag:team` and `tag:Team` are two keys)."""
        text = spec.strip()
        if text in self._by_dimension:
            return text
        return self._folded.get(text.lower())

    def entries(self, dimension: str) -> list[VocabEntry]:
        """The values of one dimension (case-insensitive name), highest cost first."""
        name = self.canonical_dimension(dimension)
        return [self._entry(i) for i in self._by_dimension.get(name, [])] if name else []

    def count(self, dimension: str) -> int:
        """How many values a dimension has (without making its entries)."""
        name = self.canonical_dimension(dimension)
        return len(self._by_dimension.get(name, [])) if name else 0

    def top(self, dimension: str, n: int) -> list[VocabEntry]:
        """The `n` values of a dimension with the highest cost."""
        name = self.canonical_dimension(dimension)
        return [self._entry(i) for i in self._by_dimension.get(name, [])[:n]] if name else []

    def total(self, dimension: str) -> Decimal:
        """The summed cost of a dimension's values (the spend that has a value for it)."""
        name = self.canonical_dimension(dimension)
        return sum((self._rows[i][3] for i in self._by_dimension.get(name or "", [])), Decimal(0))

    def entry(self, dimension: str, value: str) -> VocabEntry | None:
        """The entry of exactly this value, if the catalog has it."""
        name = self.canonical_dimension(dimension)
        i = self._by_key.get((name, value)) if name else None
        return None if i is None else self._entry(i)

    def tag_keys(self) -> list[str]:
        """Tag keys with at least one value (without the `tag:` prefix), sorted."""
        return sorted(d[4:] for d in self._by_dimension if d.startswith("tag:"))

    def virtual_tags(self) -> list[str]:
        """Virtual tags with allocated values (without the `vtag:` prefix), sorted."""
        return sorted(d[5:] for d in self._by_dimension if d.startswith("vtag:"))

    def lookup(self, phrase: str, dimensions: Sequence[str] | None = None) -> list[Match]:
        """Entries `phrase` names exactly: equal to a value or label ignoring case, spaces and
        punctuation, or through the alias table. Never fuzzy. Best dimension first; an alias may
        name several values (a service under two spellings, a city's regions)."""
        return self._lookup_index().lookup(phrase, dimensions)

    def closest(
        self, phrase: str, dimensions: Sequence[str] | None = None, limit: int = 3
    ) -> list[Match]:
        """Fuzzy suggestions (RapidFuzz) for a phrase without an exact match, best first."""
        return self._lookup_index().closest(phrase, dimensions, limit)

    def spend_of(
        self,
        dimension: str,
        value: str,
        since: date | None = None,
        until: date | None = None,
    ) -> Decimal | None:
        """Billed spend of one value: all time from the catalog, or over [since, until]
        (inclusive) through the spend engine. None when the value is not in the catalog, or a
        window is asked of a vocabulary built without an engine."""
        found = self.entry(dimension, value)
        if found is None:
            return None
        if since is None and until is None:
            return found.cost
        if self._engine is None or self._config is None:
            return None
        from tools.spend.engine import Filter, SpendQuery, spend

        query = SpendQuery(
            since=since,
            until=until,
            filters=[Filter(dimension=found.dimension, values=[found.value])],
        )
        return spend(self._engine, self._config, query).total

    def search_dimensions(self, dimensions: Sequence[str] | None) -> list[str]:
        """The catalog's dimensions a `dimensions` argument selects (see `lookup`)."""
        keep = dimension_filter(dimensions)
        return [d for d in self.dimensions() if keep(d)]

    def _lookup_index(self) -> VocabIndex:
        if self._index is None:
            self._index = VocabIndex(self._rows, self._entry, self._aliases)
        return self._index


_CACHE: dict[tuple[int, str], Vocabulary] = {}
_CACHE_SIZE = 2


def _remember(engine: Engine, fp: str, vocab: Vocabulary) -> Vocabulary:
    while len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[(id(engine), fp)] = vocab
    return vocab


def load_vocabulary(engine: Engine, config: ToolSettings) -> Vocabulary:
    """The catalog of this warehouse: the stored one when it is current, else rebuilt (and
    stored, unless the connection is read-only). Cached per engine while nothing changes."""
    fp = fingerprint(engine, config)
    cached = _CACHE.get((id(engine), fp))
    if cached is not None:
        return cached
    meta = stored_meta(engine)
    if meta is not None and meta.fingerprint == fp:
        snapshot = Snapshot(rows=stored_rows(engine), meta=meta, stored=True)
    else:
        snapshot = build_catalog(engine, config, store=writable(engine))
    vocab = Vocabulary.from_snapshot(snapshot, engine, config)
    return _remember(engine, snapshot.meta.fingerprint, vocab)


def _report(meta: CatalogMeta, *, rebuilt: bool, stored: bool) -> VocabRefresh:
    return VocabRefresh(
        rebuilt=rebuilt,
        stored=stored,
        entries=meta.entries,
        dimensions=meta.dimensions,
        tag_keys=meta.tag_keys,
        seconds=meta.seconds,
        built_at=meta.built_at,
        warnings=meta.warnings,
    )


def refresh_vocabulary(engine: Engine, config: ToolSettings) -> VocabRefresh:
    """Rebuild the catalog from the warehouse and store it; on a read-only connection it is
    built in memory and kept for this process (`stored` False)."""
    store = writable(engine)
    snapshot = build_catalog(engine, config, store=store, read_back=not store)
    if snapshot.rows is not None:
        vocab = Vocabulary.from_snapshot(snapshot, engine, config)
        _remember(engine, snapshot.meta.fingerprint, vocab)
    return _report(snapshot.meta, rebuilt=True, stored=snapshot.stored)


def ensure_vocabulary(engine: Engine, config: ToolSettings) -> VocabRefresh:
    """Rebuild only when the stored catalog is missing or stale."""
    meta = stored_meta(engine)
    if meta is not None and meta.fingerprint == fingerprint(engine, config):
        return _report(meta, rebuilt=False, stored=True)
    return refresh_vocabulary(engine, config)


def refresh_after_change(engine: Engine, config: ToolSettings) -> VocabRefresh:
    """The hook after an ingest commits or an allocation is rebuilt: bring the catalog up to
    date; report a failure (one line, for a warning) instead of raising, since the change it
    follows has already succeeded."""
    try:
        return ensure_vocabulary(engine, config)
    except Exception as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        if not isinstance(exc, FinopsError):
            first = f"{type(exc).__name__}: {first}"
        return VocabRefresh(
            rebuilt=False,
            stored=False,
            entries=0,
            dimensions=0,
            tag_keys=0,
            seconds=0.0,
            error=first[:300],
        )


def refresh_summary(result: VocabRefresh) -> str:
    """One line for a command's stderr."""
    if result.error:
        return f"warning: vocabulary not refreshed: {result.error}"
    if not result.rebuilt:
        return f"vocabulary current: {result.entries:,} values"
    text = (
        f"vocabulary refreshed: {result.entries:,} values in {result.dimensions} dimensions "
        f"({result.tag_keys} tag keys) in {result.seconds:.2f} s"
    )
    return "; ".join([text, *result.warnings])
