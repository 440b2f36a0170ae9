"""A real PostgreSQL server for tests marked `postgres` (one per session, a database per test).

`FINOPS_TEST_PG_URL` names an existing server to use (its user must be allowed to CREATE
DATABASE). Otherwise the session starts a throwaway cluster with `scripts/pg-test-server start`
(initdb in a temp dir, 127.0.0.1, a free port) and stops and deletes it at the end. Without server
binaries the postgres tests skip, unless CI or FINOPS_REQUIRE_PG is set: then they fail.
`make test` runs `scripts/pg-test-server ensure` first, which installs the server when missing.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.paths import ROOT

__all__ = ["PG_SCRIPT", "pg_server", "pg_url", "with_database"]

PG_SCRIPT = ROOT / "scripts" / "pg-test-server"


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") or os.environ.get("FINOPS_REQUIRE_PG"):
        pytest.fail(f"PostgreSQL tests are required here but {reason}")
    pytest.skip(f"{reason} (run scripts/pg-test-server ensure, or set FINOPS_TEST_PG_URL)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a PostgreSQL server for this session."""
    given = os.environ.get("FINOPS_TEST_PG_URL")
    if given:
        yield given
        return
    found = subprocess.run([PG_SCRIPT, "bindir"], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        _unavailable("no PostgreSQL server binaries are installed")
    folder = tempfile.mkdtemp(prefix="finops-pg-")
    started = subprocess.run(
        [PG_SCRIPT, "start", folder], capture_output=True, text=True, timeout=180, check=False
    )
    if started.returncode != 0:
        subprocess.run([PG_SCRIPT, "stop", folder], timeout=60, check=False)
        pytest.fail(f"could not start the test PostgreSQL server:\n{started.stderr}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([PG_SCRIPT, "stop", folder], timeout=120, check=False)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh empty database on the session's server, dropped after the test."""
    import psycopg

    name = f"finops_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(pg_server, name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
