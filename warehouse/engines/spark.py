"""Apache Spark as the engine: local mode, a cluster, or Spark Connect (`sc://host:port`).

In production Spark reads the billing data where it already lives: `warehouse.tables` maps the
names the queries use (`costs`, `ingests`, `vtag_alloc`, …) to lakehouse tables (e.g.
`costs: billing.focus_costs`), registered as session views, so no query is rewritten by hand.
Tests and benchmarks register local parquet files under the same names instead
(`register_parquet`, or `warehouse.engines.publish` to copy DuckDB tables).

OSS Spark has no `information_schema`; the engine keeps a small `information_schema.tables`
view listing the names it registered, so metadata reads (allocation freshness) stay portable.

Derived tables (the virtual-tag allocation) are built from the same DuckDB-dialect statements as
on DuckDB (`execute`): the statement's query is transpiled, run, materialized with
`localCheckpoint` (later steps neither recompute it nor carry its lineage) and registered as a
session view. A `transaction` block restores the views it replaced if it fails.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from agent.errors import ConfigError, QueryError
from warehouse.engines.base import Params, bind, render

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkEngine", "spark_session"]

DEFAULT_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}


def spark_session(
    *, master: str | None = None, remote: str | None = None, conf: Mapping[str, str] = {}
) -> SparkSession:
    """A SparkSession for `master` (`local[*]`, `spark://host:7077`, `yarn`) or a Spark
    Connect `remote` (`sc://host:15002`), with the UI off and UTC as the session time zone."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "warehouse.url selects Spark but pyspark is not installed: pip install '.[spark]'"
        ) from None
    builder: Any = SparkSession.builder.appName("finops")
    builder = builder.remote(remote) if remote else builder.master(master or "local[*]")
    settings = dict(DEFAULT_CONF)
    if not remote:
        settings["spark.sql.warehouse.dir"] = tempfile.mkdtemp(prefix="finops-spark-")
    settings.update(conf)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not remote:
        session.sparkContext.setLogLevel("ERROR")
    return session


@dataclass
class SparkEngine:
    """Runs the DuckDB-dialect queries on Spark, transpiled by sqlglot."""

    session: SparkSession
    dialect: str = "spark"
    _views: set[str] = field(default_factory=set, repr=False)
    _frames: dict[str, DataFrame] = field(default_factory=dict, repr=False)
    _journal: dict[str, DataFrame | None] | None = field(default=None, repr=False)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.session.sql(sql).collect()]

    def query(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        return self.fetch(render(bind(sql, params), self.dialect))

    def tables(self) -> set[str]:
        listed = {t.name for t in self.session.catalog.listTables()}
        return {n for n in listed | self._views if n}

    def register(self, name: str, frame: DataFrame, *, cache: bool = False) -> None:
        """Expose a DataFrame to the queries as `name` (a session view)."""
        if cache:
            frame = frame.cache()
        if self._journal is not None and name not in self._journal:
            self._journal[name] = self._frames.get(name)
        frame.createOrReplaceTempView(name)
        self._views.add(name)
        self._frames[name] = frame
        self._refresh_information_schema()

    def execute(self, sql: str, params: Params = None) -> None:
        """Build the view of a DuckDB-dialect `CREATE [OR REPLACE] [TEMP] TABLE t AS <query>`
        or `INSERT INTO t <query>` (rows cast to `t`'s column types, as DuckDB's INSERT does).

        Example: `engine.execute("CREATE OR REPLACE TABLE k AS SELECT hash(a) AS k FROM t")`.
        """
        tree = bind(sql, params)
        query = tree.expression if isinstance(tree, exp.Create | exp.Insert) else None
        if not isinstance(query, exp.Query) or not isinstance(tree.this, exp.Table):
            raise QueryError(
                "Spark builds tables only from `CREATE TABLE t AS <query>` or "
                f"`INSERT INTO t <query>` without a column list; got {sql.strip()[:60]!r}"
            )
        name = tree.this.name
        frame = self.session.sql(render(query, self.dialect))
        if isinstance(tree, exp.Insert):
            existing = self._frames.get(name)
            if existing is None:
                raise QueryError(f"cannot INSERT INTO {name!r}: this engine did not build it")
            frame = existing.union(_cast_like(frame, existing, name))
        self.register(name, frame.localCheckpoint(eager=True))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Views registered in the block replace the old ones together; if the block fails,
        the views it replaced come back and the ones it added are dropped."""
        if self._journal is not None:
            raise QueryError("Spark engine transactions do not nest")
        self._journal = {}
        try:
            yield
        except BaseException:
            journal, self._journal = self._journal, None
            self._restore(journal)
            raise
        self._journal = None

    def _restore(self, journal: Mapping[str, DataFrame | None]) -> None:
        for name, old in journal.items():
            if old is None:
                self.session.catalog.dropTempView(name)
                self._views.discard(name)
                self._frames.pop(name, None)
            else:
                old.createOrReplaceTempView(name)
                self._frames[name] = old
        self._refresh_information_schema()

    def register_parquet(self, name: str, path: Path | str) -> None:
        """A local or object-store parquet file (or folder) as `name`."""
        self.register(name, self.session.read.parquet(str(path)))

    def register_tables(self, mapping: Mapping[str, str]) -> None:
        """`{costs: "billing.focus_costs"}`: the queries' names over lakehouse tables."""
        for name, table in mapping.items():
            self.register(name, self.session.table(table))

    def _refresh_information_schema(self) -> None:
        names = ", ".join(f"('{n}')" for n in sorted(self._views) if n.isidentifier())
        self.session.sql("CREATE DATABASE IF NOT EXISTS information_schema")
        self.session.sql(
            "CREATE OR REPLACE VIEW information_schema.tables AS "
            f"SELECT * FROM VALUES {names} AS t(table_name)"
        )


def _cast_like(frame: DataFrame, like: DataFrame, name: str) -> DataFrame:
    """`frame`'s columns, by position, cast to `like`'s names and types."""
    from pyspark.sql import functions as F

    target = like.schema.fields
    if len(frame.columns) != len(target):
        raise QueryError(
            f"INSERT INTO {name!r} gives {len(frame.columns)} columns; it has {len(target)}"
        )
    positional = frame.toDF(*[f"_c{i}" for i in range(len(target))])
    return positional.select(
        *[F.col(f"_c{i}").cast(f.dataType).alias(f.name) for i, f in enumerate(target)]
    )
