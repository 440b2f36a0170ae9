"""Query engines behind one query layer: DuckDB (embedded default) and Spark, by `warehouse.url`.

Queries are written once in DuckDB's dialect; `transpile` renders them for other engines with
sqlglot. See `base` (the contract), `dialects` (per-engine rewrites), `duckdb`, `spark`, `url`.
"""

from warehouse.engines.base import Engine, Params, bind, render, transpile
from warehouse.engines.duckdb import DuckDBEngine
from warehouse.engines.url import WarehouseURL, open_engine, parse_warehouse_url

__all__ = [
    "DuckDBEngine",
    "Engine",
    "Params",
    "WarehouseURL",
    "bind",
    "open_engine",
    "parse_warehouse_url",
    "render",
    "transpile",
]
