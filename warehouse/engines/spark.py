"""Apache Spark as the engine: local mode, a cluster, or Spark Connect (`sc://host:port`).

In production Spark reads the billing data where it already lives: `warehouse.tables` maps the
names the queries use (`costs`, `ingests`, `vtag_alloc`, …) to lakehouse tables (e.g.
`costs: billing.focus_costs`), registered as session views, so no query is rewritten by hand.
Tests and benchmarks register local parquet files under the same names instead
(`register_parquet`, or `warehouse.engines.publish` to copy DuckDB tables).

Derived tables (the virtual-tag allocation) are built from the same DuckDB-dialect statements as
on DuckDB (`execute`): the statement's query is transpiled, run, materialized with `localCheckpoint`
(later steps neither recompute it nor carry its lineage; plain caching keeps the lineage, and the
allocation's plans then grow until the driver runs out of memory) and registered as a session
view. A `transaction` block restores the views it replaced if it fails.

Without `output_schema` a build lives in this session only. With it (`warehouse.output_schema`,
e.g. `finops` or `main.finops`) the schema becomes the session's current one, and the tables a
build creates without `TEMP` (`vtag_alloc`, `vtag_meta`, `vtag_keys`, …) are saved there with
`saveAsTable` once the build's transaction has succeeded, in the order the build created them
(the allocation writes `vtag_meta`, its freshness record, last, so a reader never sees a new
allocation described as current before all of it is saved). Every replica and every later
session pointed at the same schema reads that build instead of making its own; a failed build
saves nothing. Overwrites are atomic per table on Delta Lake or Iceberg (Databricks' default);
plain parquet tables are rewritten in place, so use a table format with snapshots when several
replicas read while one writes.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from warehouse.engines.base import Params, bind, render
from warehouse.errors import ConfigError, QueryError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkEngine", "spark_session"]

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)?")

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
    Connect `remote` (`sc://host:15002`), with the UI off and UTC as the session time zone.

    A Connect session comes from the Connect client's own builder, so it can live in a process
    that also runs a classic session (PySpark's generic builder refuses that mix)."""
    try:
        if remote:
            from pyspark.sql.connect.session import SparkSession as ConnectSession

            builder: Any = ConnectSession.builder.remote(remote)
        else:
            from pyspark.sql import SparkSession

            builder = SparkSession.builder.master(master or "local[*]")
    except ImportError as exc:
        raise ConfigError(
            f"warehouse.url selects Spark but its client is not installed ({exc}): "
            "pip install '.[spark]'"
        ) from None
    builder = builder.appName("finops")
    settings = dict(DEFAULT_CONF)
    if remote:  # the server owns its core settings; a Connect session may set SQL ones only
        settings = {k: v for k, v in settings.items() if k.startswith("spark.sql.")}
    else:
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
    output_schema: str | None = None
    _views: set[str] = field(default_factory=set, repr=False)
    _frames: dict[str, DataFrame] = field(default_factory=dict, repr=False)
    _journal: dict[str, DataFrame | None] | None = field(default=None, repr=False)
    _persistent: set[str] = field(default_factory=set, repr=False)  # built without TEMP
    _to_save: list[str] = field(default_factory=list, repr=False)  # saved when the block ends

    def __post_init__(self) -> None:
        """With `output_schema`, create it when missing and make it the current schema, so the
        queries' unqualified names find the tables saved there (session views still win)."""
        if self.output_schema is None:
            return
        if not _DOTTED.fullmatch(self.output_schema):
            raise ConfigError(
                f"warehouse.output_schema {self.output_schema!r} must be [catalog.]schema"
            )
        try:
            self.session.sql(f"CREATE SCHEMA IF NOT EXISTS {self.output_schema}")
            self.session.sql(f"USE {self.output_schema}")
        except Exception as exc:  # AnalysisException and friends: no rights, no catalog
            raise ConfigError(
                f"cannot use warehouse.output_schema {self.output_schema!r}: {exc}"
            ) from None

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
        elif _temporary(tree):
            self._persistent.discard(name)
        else:
            self._persistent.add(name)
        self.register(name, self._materialize(frame))
        if self.output_schema and name in self._persistent and name not in self._to_save:
            self._to_save.append(name)
        if self._journal is None:
            self._save_built()

    @property
    def remote(self) -> bool:
        """Whether the session is a Spark Connect client."""
        return type(self.session).__module__.startswith("pyspark.sql.connect")

    def _materialize(self, frame: DataFrame) -> DataFrame:
        if self.remote:
            # PySpark's Connect client binds a checkpointed frame to the thread's *active*
            # session, not to the one that made it (`proto_to_remote_cached_dataframe`), so with
            # several Connect sessions in one process the server would not find it under ours.
            # There is no public setter; the active session is a thread-local on the class.
            active = getattr(type(self.session), "_active_session", None)
            if active is not None:
                active.session = self.session
        return frame.localCheckpoint(eager=True)

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
            self._to_save.clear()
            self._restore(journal)
            raise
        self._journal = None
        self._save_built()

    def _save_built(self) -> None:
        """Save the non-TEMP tables built since the last save into `output_schema` and let the
        queries read the saved tables (the session view over the build is dropped)."""
        pending, self._to_save = self._to_save, []
        for done, name in enumerate(pending):
            target = f"{self.output_schema}.{name}"
            try:
                self._frames[name].write.mode("overwrite").saveAsTable(target)
            except Exception as exc:
                saved = ", ".join(pending[:done]) or "none"
                raise QueryError(
                    f"saving {target} failed after the build succeeded (saved before it: "
                    f"{saved}); this session still reads the new build: {exc}"
                ) from None
            self.session.catalog.dropTempView(name)
            self._views.discard(name)
            self._frames.pop(name)  # the saved table is the build now (frees the checkpoint)

    def _restore(self, journal: Mapping[str, DataFrame | None]) -> None:
        for name, old in journal.items():
            if old is None:
                self.session.catalog.dropTempView(name)
                self._views.discard(name)
                self._frames.pop(name, None)
            else:
                old.createOrReplaceTempView(name)
                self._frames[name] = old

    def register_parquet(self, name: str, path: Path | str) -> None:
        """A local or object-store parquet file (or folder) as `name`."""
        self.register(name, self.session.read.parquet(str(path)))

    def register_tables(self, mapping: Mapping[str, str]) -> None:
        """`{costs: "billing.focus_costs"}`: the queries' names over lakehouse tables."""
        for name, table in mapping.items():
            self.register(name, self.session.table(table))


def _temporary(tree: exp.Expr) -> bool:
    props = tree.args.get("properties")
    return bool(props and props.find(exp.TemporaryProperty))


def _cast_like(frame: DataFrame, like: DataFrame, name: str) -> DataFrame:
    """`frame`'s columns, by position, cast to `like`'s names and types.

    Written as SQL expressions rather than `pyspark.sql.functions`, whose classic/Connect
    choice is process-wide, so the same code serves both kinds of session."""
    target = like.schema.fields
    if len(frame.columns) != len(target):
        raise QueryError(
            f"INSERT INTO {name!r} gives {len(frame.columns)} columns; it has {len(target)}"
        )
    positional = frame.toDF(*[f"_c{i}" for i in range(len(target))])
    return positional.selectExpr(
        *[f"CAST(_c{i} AS {f.dataType.simpleString()}) AS `{f.name}`" for i, f in enumerate(target)]
    )
