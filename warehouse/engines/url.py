"""`warehouse.url`: which engine runs the queries, and opening it.

* `duckdb:///abs/path.duckdb`, `duckdb://rel/path.duckdb` or nothing: the embedded DuckDB file
  (default `$FINOPS_HOME/warehouse.duckdb`);
* `spark://local[*]`, `spark://local[2]`: Spark in local mode (tests, one machine);
* `spark://host:7077`, `spark://yarn`: a Spark cluster master;
* `sc://host:15002`: Spark Connect (Databricks clusters, Spark 3.4+ servers).

With Spark the cost queries and the virtual-tag allocation build run on Spark over the tables named
in `warehouse.tables`; the local DuckDB file keeps the agent's own tables (inventory, stored
forecasts, usage events; see the README's "Where the queries run").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel

from warehouse.engines.base import Engine
from warehouse.errors import ConfigError

__all__ = ["WarehouseURL", "open_engine", "parse_warehouse_url"]

Kind = Literal["duckdb", "spark", "spark-connect"]


class WarehouseURL(BaseModel):
    """A parsed `warehouse.url`."""

    kind: Kind
    path: Path | None = None
    master: str | None = None
    remote: str | None = None


def parse_warehouse_url(url: str | None, default: Path) -> WarehouseURL:
    """Parse `warehouse.url`, or explain the accepted forms."""
    if not url:
        return WarehouseURL(kind="duckdb", path=default)
    if url.startswith("duckdb://"):
        rest = url.removeprefix("duckdb://")
        if not rest:
            raise ConfigError(
                "warehouse.url duckdb:// needs a file path: duckdb:///path/file.duckdb"
            )
        return WarehouseURL(kind="duckdb", path=Path(rest).expanduser())
    if url.startswith("spark://"):
        target = url.removeprefix("spark://")
        if not target:
            raise ConfigError("warehouse.url spark:// needs a master: spark://local[*]")
        local = target.startswith("local") or target in ("yarn",) or target.startswith("k8s://")
        master = target if local else f"spark://{target}"
        return WarehouseURL(kind="spark", path=default, master=master)
    if url.startswith("sc://"):
        return WarehouseURL(kind="spark-connect", path=default, remote=url)
    raise ConfigError(
        f"warehouse.url {url!r} is not supported; use duckdb:///path/file.duckdb, "
        "spark://local[*], spark://host:7077 or sc://host:15002"
    )


def open_engine(
    url: str | None,
    duckdb_connection: Callable[[], duckdb.DuckDBPyConnection],
    tables: Mapping[str, str] | None = None,
    *,
    output_schema: str | None = None,
) -> Engine:
    """The engine `url` selects; the DuckDB one reuses `duckdb_connection()` (the warehouse
    file the caller already resolved), Spark ones register `tables` (query name → lakehouse
    table) as session views and save builds to `output_schema` when it is set."""
    from warehouse.engines.duckdb import DuckDBEngine

    parsed = parse_warehouse_url(url, Path("warehouse.duckdb"))
    if parsed.kind == "duckdb":
        if output_schema:
            raise ConfigError(
                "warehouse.output_schema is for Spark; DuckDB keeps its builds in its own file"
            )
        return DuckDBEngine(duckdb_connection())
    from warehouse.engines.spark import SparkEngine, spark_session

    session = spark_session(master=parsed.master, remote=parsed.remote)
    engine = SparkEngine(session, output_schema=output_schema)
    engine.register_tables(tables or {})
    return engine
