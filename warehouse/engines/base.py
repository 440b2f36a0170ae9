"""The engine contract and the one query layer: DuckDB-dialect SQL, transpiled by sqlglot.

Every query in the project is written once, in DuckDB's dialect. An engine runs it either as is
(`fetch`, for SQL already rendered with `transpile(sql, engine.dialect)`) or from the DuckDB text
with parameters (`query`). Parameters are never spliced into SQL text: DuckDB binds them itself;
other engines get them as sqlglot literal nodes placed where the placeholders were, rendered by
the target dialect's own quoting rules (a `'` or `\\` in a value cannot end the literal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from warehouse.errors import QueryError

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = ["Engine", "Params", "bind", "render", "transpile"]

Params = Sequence[object] | Mapping[str, object] | None
"""Positional (`?`) or named (`$name`) parameters of a DuckDB-dialect query."""

_SCALARS = (str, int, float, bool, Decimal, date, datetime)


@runtime_checkable
class Engine(Protocol):
    """Something that runs a SELECT and returns rows as tuples of Python values, and builds
    derived tables (the virtual-tag allocation) from DuckDB-dialect statements.

    Money comes back as `Decimal`, days as `date`, timestamps as `datetime`, lists as `list`.
    """

    dialect: str

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """Run SQL that is already in this engine's dialect."""
        ...

    def query(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        """Run DuckDB-dialect SQL with bound parameters (transpiled when needed)."""
        ...

    def tables(self) -> set[str]:
        """The names of the tables and views a query can read."""
        ...

    def execute(self, sql: str, params: Params = None) -> None:
        """Run one DuckDB-dialect statement that builds a table from a query:
        `CREATE [OR REPLACE] [TEMP] TABLE t AS <query>` or `INSERT INTO t <query>`."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose `execute` statements land together (or not at all, where the engine
        has transactions; see each engine)."""
        ...


def transpile(sql: str, dialect: str) -> str:
    """Render DuckDB-dialect SQL for `dialect` (identity for DuckDB).

    Constructs the target lacks but can express another way (a framed window median on Spark)
    are rewritten on the syntax tree by `warehouse.engines.dialects`, never by a second copy of
    the query.
    """
    if dialect == "duckdb":
        return sql
    return render(_parse(sql), dialect)


def render(tree: exp.Expr, dialect: str) -> str:
    """One parsed DuckDB statement as SQL of `dialect`, after that dialect's rewrites."""
    from warehouse.engines.dialects import dialect_for, rewrite_for

    rewritten = tree
    for rule in rewrite_for(dialect):
        rewritten = rewritten.transform(rule)
    return rewritten.sql(dialect=dialect_for(dialect))


def _parse(sql: str) -> exp.Expr:
    import sqlglot  # only a non-DuckDB engine parses: DuckDB runs the text as written

    try:
        statements = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"cannot parse the query for transpilation: {exc}") from None
    if len(statements) != 1 or statements[0] is None:
        raise QueryError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


def _literal(value: object) -> exp.Expr:
    if value is not None and not isinstance(value, _SCALARS):
        raise QueryError(f"cannot bind a parameter of type {type(value).__name__}")
    if isinstance(value, float) and value != value:
        raise QueryError("cannot bind NaN as a parameter")
    from sqlglot import exp

    return exp.convert(value)


def bind(sql: str, params: Params) -> exp.Expr:
    """Parse DuckDB-dialect SQL and put each parameter's literal where its placeholder is.

    `?` placeholders take `params` in order; `$name` ones take `params[name]`. A count or name
    mismatch is an error, not a silently unbound query.
    """
    from sqlglot import exp

    tree = _parse(sql)
    holders = list(tree.find_all(exp.Placeholder))
    if params is None:
        params = ()
    if isinstance(params, Mapping):
        for holder in holders:
            name = holder.this
            if not name or name not in params:
                raise QueryError(f"no value for parameter {holder.sql(dialect='duckdb')!r}")
            holder.replace(_literal(params[name]))
        return tree
    values = list(params)
    if any(h.this for h in holders) or len(holders) != len(values):
        raise QueryError(
            f"the query has {len(holders)} placeholders but {len(values)} positional values"
        )
    for holder, value in zip(holders, values, strict=True):
        holder.replace(_literal(value))
    return tree
