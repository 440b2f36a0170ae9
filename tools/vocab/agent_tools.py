"""The agent's read tool over the vocabulary catalog: look a name up before filtering on it.

Models guess filter values ("EC2", "prod account", "Glu"); the warehouse stores its own spelling
("Amazon Elastic Compute Cloud", "granite-prod", "AWS Glue"). `vocab_lookup` returns the stored
values a phrase names (exact, by the other name of the same thing, or through the alias table),
with each value's spend, date range and the ready-to-use `DIM=value` filter; when nothing matches,
the closest values instead, so the model can ask the user rather than guess.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.registry import REGISTRY
from tools.vocab.catalog import Match, Vocabulary, load_vocabulary
from warehouse.errors import QueryError

__all__ = ["VocabHit", "VocabLookupArgs", "VocabLookupResult", "lookup_result"]


class VocabLookupArgs(BaseModel):
    phrase: str = Field(
        min_length=1,
        max_length=200,
        description="The name as the user wrote it: a service, account, region, resource, model, "
        "tag value, team… e.g. 'EC2', 'granite-prod', 'us east', 'Glu'.",
    )
    dimension: str | None = Field(
        default=None,
        max_length=300,
        description="Only search one dimension: a FOCUS column (ServiceName, SubAccountName, "
        "RegionId, SkuId…), tag:KEY, vtag:NAME, or tag: / vtag: for every tag / virtual tag.",
    )
    limit: int = Field(default=5, ge=1, le=25, description="Most values to return.")


class VocabHit(BaseModel):
    """One stored value: where it lives, how it matched, its spend and when it was seen."""

    dimension: str
    value: str
    label: str | None
    how: str
    score: float
    cost: Decimal
    first_day: date
    last_day: date
    rows: int
    filter: str | None = Field(description="`DIM=value` for the spend tools (None: not writable).")


class VocabLookupResult(BaseModel):
    phrase: str
    found: bool = Field(description="Whether the phrase names stored values exactly.")
    matches: list[VocabHit]
    closest: list[VocabHit] = Field(description="Nearest values when nothing matched.")
    more: int = Field(description="Further exact matches left out by `limit`.")
    currency: str
    data_since: date | None
    data_until: date | None


def _hit(m: Match) -> VocabHit:
    e = m.entry
    return VocabHit(
        dimension=e.dimension,
        value=e.value,
        label=e.label,
        how=m.how,
        score=m.score,
        cost=e.cost,
        first_day=e.first_day,
        last_day=e.last_day,
        rows=e.rows,
        filter=e.filter_text(),
    )


def lookup_result(
    vocab: Vocabulary, phrase: str, dimension: str | None = None, limit: int = 5
) -> VocabLookupResult:
    """Matches of `phrase` (or the closest values when none), shaped for a model or a CLI."""
    dims = [dimension] if dimension else None
    if dims and not vocab.search_dimensions(dims):
        known = ", ".join(vocab.dimensions()[:40]) or "none: the warehouse is empty"
        raise QueryError(f"the catalog has no dimension {dimension!r}; it has: {known}")
    matches = vocab.lookup(phrase, dims)
    closest = [] if matches else vocab.closest(phrase, dims, limit=limit)
    return VocabLookupResult(
        phrase=phrase,
        found=bool(matches),
        matches=[_hit(m) for m in matches[:limit]],
        closest=[_hit(m) for m in closest],
        more=max(0, len(matches) - limit),
        currency=vocab.currency,
        data_since=vocab.first_day,
        data_until=vocab.last_day,
    )


@REGISTRY.tool(
    effect="read",
    reversible=True,
    permissions=("warehouse:read",),
    example={"phrase": "EC2", "limit": 5},
)
def vocab_lookup(ctx: ToolContext, args: VocabLookupArgs) -> VocabLookupResult:
    """Find how the warehouse spells a name before using it in a filter.

    Use it whenever a question names a service, account, region, resource, model, team or tag
    value: filters must use the stored value exactly. Matches are exact (case, spaces and
    punctuation ignored), by the other name of the same thing (account id ↔ name, region code ↔
    name) or through the alias table (EC2, S3, RDS, VMs, GKE, gpt-4o, …); `closest` lists the
    nearest values when nothing matched: then ask the user which one they meant, never guess.
    Each value comes with its all-time spend, first and last day, and `filter` (`DIM=value`).
    Example: {"phrase": "EC2"} -> ServiceName=Amazon Elastic Compute Cloud;
    {"phrase": "Glu"} -> closest: AWS Glue.
    """
    vocab = load_vocabulary(ctx.engine(), ctx.config)
    return lookup_result(vocab, args.phrase, args.dimension, args.limit)
