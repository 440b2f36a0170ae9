"""Scoring an allocation against known owners (the demo's ground truth, or a CSV).

Truth is given per resource id and, for rows without a known resource, per sub-account. The
score is by spend: of the spend a virtual tag allocated by inference, how much went to the right
value; and likewise for every provenance, so tags and rules are checked too.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import duckdb
from pydantic import BaseModel

from tools.settings import ToolSettings
from tools.vtags.report import PROVENANCES
from warehouse.errors import QueryError

__all__ = ["AccuracyResult", "Truth", "load_truth", "score"]

_D0 = Decimal(0)


class Truth(BaseModel):
    """Known values: by resource id, and by sub-account id for everything else."""

    resources: dict[str, str]
    accounts: dict[str, str]


def load_truth(path: Path) -> Truth:
    """Read the demo's `ground_truth.json` (its `team` fields) or a CSV with columns
    `resource_id` or `sub_account_id`, and `value`."""
    if not path.exists():
        raise QueryError(f"truth file {path} does not exist")
    if path.suffix.lower() == ".json":
        doc = json.loads(path.read_text(encoding="utf-8"))
        try:
            resources = {r["resource_id"]: r["team"] for r in doc["resources"]}
            accounts = {a["sub_account_id"]: a["team"] for a in doc["accounts"]}
        except (KeyError, TypeError) as exc:
            raise QueryError(f"{path}: not a demo ground_truth.json ({exc})") from None
        return Truth(resources=resources, accounts=accounts)
    resources, accounts = {}, {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = set(reader.fieldnames or [])
        if "value" not in fields or not fields & {"resource_id", "sub_account_id"}:
            raise QueryError(f"{path}: needs columns value and resource_id or sub_account_id")
        for row in reader:
            if row.get("resource_id"):
                resources[row["resource_id"]] = row["value"]
            elif row.get("sub_account_id"):
                accounts[row["sub_account_id"]] = row["value"]
    return Truth(resources=resources, accounts=accounts)


class ProvenanceScore(BaseModel):
    spend: Decimal
    scored: Decimal
    correct: Decimal
    accuracy: Decimal | None


class AccuracyResult(BaseModel):
    """Coverage and correctness of one virtual tag by spend (reporting currency, all history)."""

    vtag: str
    currency: str
    total: Decimal
    allocated_share: Decimal
    by_provenance: dict[str, ProvenanceScore]
    inferred_accuracy: Decimal | None
    wrong: list[dict[str, str]]


def _ratio(a: Decimal, b: Decimal) -> Decimal | None:
    return (a / b).quantize(Decimal("0.0001")) if b else None


def score(
    con: duckdb.DuckDBPyConnection,
    config: ToolSettings,
    vtag: str,
    truth: Truth,
    *,
    normalize: Mapping[str, str] | None = None,
) -> AccuracyResult:
    """Compare each allocated key's value with the truth of its resource (else its account)."""
    vt = config.virtual_tags.get(vtag)
    if vt is None:
        raise QueryError(f"unknown virtual tag {vtag!r}")
    norm = dict(normalize or {})
    con.execute("CREATE OR REPLACE TEMP TABLE vtag_truth_r (rid VARCHAR, value VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE vtag_truth_a (aid VARCHAR, value VARCHAR)")
    for table, known in (("vtag_truth_r", truth.resources), ("vtag_truth_a", truth.accounts)):
        if known:
            con.executemany(
                f"INSERT INTO {table} VALUES (?, ?)",
                [[k, norm.get(v, vt.norm(v))] for k, v in known.items()],
            )
    rows = con.execute(
        """
        SELECT a.provenance, a.value, coalesce(r.value, ac.value) AS truth,
          t.ResourceId, coalesce(t.SubAccountName, t.SubAccountId), a.detail,
          sum(m.cost * a.share) AS cost
        FROM vtag_alloc a
        JOIN vtag_keys m ON m.k = a.k AND (a.month IS NULL OR a.month = m.month)
        JOIN vtag_attrs t ON t.k = a.k
        LEFT JOIN vtag_truth_r r ON r.rid = t.ResourceId
        LEFT JOIN vtag_truth_a ac ON ac.aid = t.SubAccountId
        WHERE a.vtag = ?
        GROUP BY ALL
        """,
        [vtag],
    ).fetchall()
    by = {p: [_D0, _D0, _D0] for p in PROVENANCES}
    wrong: list[dict[str, str]] = []
    for prov, value, true_value, rid, account, detail, cost in rows:
        cost = cost or _D0
        by[prov][0] += cost
        if true_value is None or prov in ("shared", "default"):
            continue
        by[prov][1] += cost
        if value == true_value:
            by[prov][2] += cost
        elif prov == "inferred":
            wrong.append(
                {
                    "resource_id": rid or "",
                    "account": account or "",
                    "value": value,
                    "truth": true_value,
                    "cost": str(cost.quantize(Decimal("0.01"))),
                    "reason": detail or "",
                }
            )
    total = sum((v[0] for v in by.values()), _D0)
    scores = {
        p: ProvenanceScore(spend=v[0], scored=v[1], correct=v[2], accuracy=_ratio(v[2], v[1]))
        for p, v in by.items()
    }
    return AccuracyResult(
        vtag=vtag,
        currency=config.reporting_currency,
        total=total,
        allocated_share=_ratio(total - by["default"][0], total) or _D0,
        by_provenance=scores,
        inferred_accuracy=scores["inferred"].accuracy,
        wrong=sorted(wrong, key=lambda w: -Decimal(w["cost"])),
    )
