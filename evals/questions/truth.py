"""A question's truth as SQL over the dataset's raw `bill` view, and the figures it yields."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import duckdb

from evals.questions.schema import Question, Truth, Values

__all__ = ["Expected", "TruthRow", "compute", "period_bounds"]

_METRICS = {"billed": "billed", "effective": "effective", "list": "list"}
_ZERO = Decimal(0)


@dataclass(frozen=True)
class TruthRow:
    """One group: the label spellings an answer may use, its value (and, for growth, before)."""

    name: str
    labels: frozenset[str]
    value: Decimal
    previous: Decimal = _ZERO
    null: bool = False

    @property
    def label(self) -> str:
        return self.name or "(none)"

    @property
    def delta(self) -> Decimal:
        return self.value - self.previous


@dataclass
class Expected:
    """What a correct answer says: a scalar, or ranked rows (and their total)."""

    expect: str
    value: Decimal | None = None
    rows: list[TruthRow] = field(default_factory=list)
    total: Decimal | None = None
    top: int | None = None
    sql: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.value is not None:
            return str(self.value.quantize(Decimal("0.0001")))
        head = self.rows[: self.top or 5]
        return "; ".join(f"{r.label} {r.value:.2f}" for r in head)


def period_bounds(period: str | list[str]) -> tuple[date, date]:
    """[first day, day after the last) of `2018`, `2018-Q4`, `2018-10`, `2018-10-15` or a range."""
    if isinstance(period, list):
        return date.fromisoformat(period[0]), date.fromisoformat(period[1])
    if len(period) == 4:
        year = int(period)
        return date(year, 1, 1), date(year + 1, 1, 1)
    if "-Q" in period:
        year, q = int(period[:4]), int(period[-1])
        start = date(year, 3 * q - 2, 1)
        return start, date(year + q // 4, (3 * q) % 12 + 1, 1)
    if len(period) == 7:
        start = date.fromisoformat(period + "-01")
        return start, date(start.year + start.month // 12, start.month % 12 + 1, 1)
    day = date.fromisoformat(period)
    return day, date.fromordinal(day.toordinal() + 1)


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(exprs: list[str], values: Values) -> str:
    items = ", ".join(_lit(v) for v in ([values] if isinstance(values, str) else values))
    return "(" + " OR ".join(f"{e} IN ({items})" for e in exprs) + ")"


def _columns(dim: str) -> list[str]:
    """The columns a filter value may name (accounts and regions by id or name)."""
    if dim.startswith("tag:"):
        return [f"json_extract_string(tags, {_lit('$.' + _quote_key(dim[4:]))})"]
    return {
        "account": ["account_name", "account_id"],
        "billing_account": ["billing_account_name", "billing_account_id"],
        "region": ["region", "region_name"],
    }.get(dim, [dim])


def _quote_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


def _label_exprs(dim: str) -> list[str]:
    """The label's primary spelling first, then alternatives (id vs name, YYYY-MM vs -01)."""
    if dim == "month":
        return ["strftime(ts, '%Y-%m')", "strftime(ts, '%Y-%m-01')"]
    if dim == "day":
        return ["strftime(ts, '%Y-%m-%d')"]
    if dim == "account":
        return ["coalesce(account_name, account_id)", "account_id"]
    if dim == "billing_account":
        return ["coalesce(billing_account_name, billing_account_id)", "billing_account_id"]
    if dim == "region":
        return ["region", "region_name"]
    return _columns(dim)


def where_sql(t: Truth, period: str | list[str] | None, *, filters: bool = True) -> str:
    parts = []
    if period is not None:
        start, end = period_bounds(period)
        parts.append(f"ts >= TIMESTAMP '{start}' AND ts < TIMESTAMP '{end}'")
    if filters:
        parts += [_in(_columns(d), v) for d, v in t.where.items()]
        parts += [f"NOT coalesce({_in(_columns(d), v)}, false)" for d, v in t.exclude.items()]
    return " AND ".join(parts) or "true"


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Decimal:
    row = con.execute(sql).fetchone()
    value = row[0] if row else None
    return _ZERO if value is None else Decimal(str(value))


def _groups(
    con: duckdb.DuckDBPyConnection, t: Truth, period: str | list[str] | None, sqls: list[str]
) -> dict[tuple[str | None, ...], tuple[Decimal, list[frozenset[str]]]]:
    exprs = [_label_exprs(d) for d in t.by]
    flat = [e for group in exprs for e in group]
    sql = (
        f"SELECT {', '.join(flat)}, sum({_METRICS[t.metric]}) FROM bill "
        f"WHERE {where_sql(t, period)} GROUP BY ALL"
    )
    sqls.append(sql)
    out: dict[tuple[str | None, ...], tuple[Decimal, list[frozenset[str]]]] = {}
    for row in con.execute(sql).fetchall():
        values, i, key, spellings = row[-1], 0, [], []
        for group in exprs:
            cells = [None if c is None else str(c) for c in row[i : i + len(group)]]
            i += len(group)
            key.append(cells[0])
            spellings.append(frozenset(c for c in cells if c))
        amount = _ZERO if values is None else Decimal(str(values))
        old = out.get(tuple(key))
        if old is not None:
            amount += old[0]
            spellings = [a | b for a, b in zip(old[1], spellings, strict=True)]
        out[tuple(key)] = (amount, spellings)
    return out


def _labels(spellings: list[frozenset[str]]) -> frozenset[str]:
    return frozenset(" / ".join(combo) for combo in itertools.product(*spellings) if combo)


def _unambiguous(
    keys: list[tuple[str | None, ...]], groups: list[list[frozenset[str]]]
) -> list[list[frozenset[str]]]:
    """Drop alternative spellings that name two different values at one position (a region
    name over several ids); a spelling shared by groups with the same value there (a month
    `2025-10` / `2025-10-01` in every provider's row) stays."""
    owners: dict[tuple[int, str], set[str | None]] = {}
    for key, spellings in zip(keys, groups, strict=True):
        for i, names in enumerate(spellings):
            for n in names:
                owners.setdefault((i, n), set()).add(key[i])
    return [
        [frozenset(n for n in names if len(owners[(i, n)]) == 1) for i, names in enumerate(s)]
        for s in groups
    ]


def _rows(con: duckdb.DuckDBPyConnection, t: Truth, sqls: list[str]) -> list[TruthRow]:
    now = _groups(con, t, t.period, sqls)
    before = _groups(con, t, t.previous, sqls) if t.previous is not None else {}
    keys = list(set(now) | set(before))
    merged = [
        [
            a | b
            for a, b in zip(
                now[k][1] if k in now else before[k][1],
                before[k][1] if k in before else now[k][1],
                strict=True,
            )
        ]
        for k in keys
    ]
    rows = []
    for key, spellings in zip(keys, _unambiguous(keys, merged), strict=True):
        value = now[key][0] if key in now else _ZERO
        previous = before[key][0] if key in before else _ZERO
        name = " / ".join(k or "(none)" for k in key)
        labels = _labels([s | {k} if k else s for s, k in zip(spellings, key, strict=True)])
        rows.append(TruthRow(name, labels, value, previous, any(k is None for k in key)))
    if t.previous is not None:
        return sorted(rows, key=lambda r: (-r.delta, r.label))
    return sorted(rows, key=lambda r: (-r.value, r.label))


def compute(con: duckdb.DuckDBPyConnection, q: Question) -> Expected:
    """The expected figures of one question (nothing for a must-clarify question)."""
    t = q.truth
    if t is None:
        return Expected(expect=q.expect)
    sqls: list[str] = []
    metric = _METRICS[t.metric]
    if q.expect in ("rows", "top", "growth"):
        rows = _rows(con, t, sqls)
        total = sum((r.value for r in rows), _ZERO)
        return Expected(expect=q.expect, rows=rows, total=total, top=t.top, sql=sqls)
    if q.expect == "share":
        assert t.share_of is not None
        part = f"SELECT sum({metric}) FROM bill WHERE {where_sql(t, t.period)}"
        whole_t = t.model_copy(update={"where": t.share_of, "exclude": {}})
        whole = f"SELECT sum({metric}) FROM bill WHERE {where_sql(whole_t, t.period)}"
        sqls += [part, whole]
        value = _scalar(con, part) * 100 / _scalar(con, whole)
        return Expected(expect=q.expect, value=value, sql=sqls)
    if q.expect == "unit":
        sql = (
            f"SELECT sum({metric}) / sum(qty) FROM bill WHERE {where_sql(t, t.period)} "
            "AND qty IS NOT NULL"
        )
        sqls.append(sql)
        return Expected(expect=q.expect, value=_scalar(con, sql), sql=sqls)
    sql = t.sql or f"SELECT sum({metric}) FROM bill WHERE {where_sql(t, t.period)}"
    sqls.append(sql)
    return Expected(expect=q.expect, value=_scalar(con, sql), sql=sqls)
