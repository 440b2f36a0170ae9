"""The child process that runs one guarded query: `python guardrails/sqlworker.py` < JSON job.

Run as a script by `guardrails.sqlguard.run_guarded`, so it imports nothing of the project.
Before DuckDB is even imported it caps its own address space (RLIMIT_AS), which bounds what
DuckDB's memory limit does not see (constant folding at plan time, huge list and string
values); the parent kills it at the time limit. It opens the warehouse read-only with the
locked configuration it is given, fetches at most `max_rows + 1` rows and at most `max_bytes`
of JSON, and writes one JSON document to stdout: the result, or `{"error": ...}`.
"""

from __future__ import annotations

import json
import resource
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

_MIB = 1024 * 1024


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _run(job: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    config = dict(job["config"])
    config["memory_limit"] = f"{int(job['memory_mb'])}MB"
    config["threads"] = int(job["threads"])
    max_rows, max_bytes = int(job["max_rows"]), int(job["max_bytes"])
    try:
        con = duckdb.connect(job["path"], read_only=True, config=config)
        cur = con.execute(job["sql"])
        columns = [d[0] for d in cur.description or []]
        rows: list[list[Any]] = []
        size, cut_by_bytes, more = 2, False, False
        for raw in cur.fetchmany(max_rows + 1):
            if len(rows) == max_rows:
                more = True
                break
            row = [_jsonable(v) for v in raw]
            size += len(json.dumps(row, default=str)) + 1
            if size > max_bytes:
                cut_by_bytes = True
                break
            rows.append(row)
    except duckdb.OutOfMemoryException:
        return {"error": "memory"}
    except MemoryError:
        return {"error": "memory"}
    except duckdb.Error as exc:
        return {"error": f"query failed: {str(exc).splitlines()[0]}"}
    return {"columns": columns, "rows": rows, "more": more, "cut_by_bytes": cut_by_bytes}


def main() -> None:
    job = json.loads(sys.stdin.read())
    limit = (int(job["memory_mb"]) + int(job["headroom_mb"])) * _MIB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        out = _run(job)
    except MemoryError:
        out = {"error": "memory"}
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
