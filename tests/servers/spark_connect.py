"""A real Spark Connect server for tests marked `spark` (one per session, on 127.0.0.1).

The server is PySpark's own `SparkConnectServer` class, started with the `spark-submit` that ships
in the pyspark wheel, in local mode on a free port: the engine then talks to it over gRPC exactly
as it would to a cluster's Connect endpoint (`sc://host:15002`). Its log goes to a temp file that
a failed start prints. Without the `pyspark[connect]` client libraries the tests skip, unless CI
or FINOPS_REQUIRE_SPARK is set: then they fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

__all__ = ["spark_connect_url"]

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT_S = 180.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def spark_connect_url() -> Iterator[str]:
    """`sc://127.0.0.1:PORT` of a Spark Connect server (local[2]) running for this session."""
    try:
        import pyspark
        from pyspark.sql.connect.utils import check_dependencies

        check_dependencies()
    except ImportError as exc:
        if os.environ.get("CI") or os.environ.get("FINOPS_REQUIRE_SPARK"):
            pytest.fail(f"Spark Connect tests are required here but {exc}")
        pytest.skip(f"Spark Connect client missing ({exc}); pip install -e '.[spark]'")
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    port = _free_port()
    log_path = Path(tempfile.mkdtemp(prefix="finops-spark-connect-")) / "server.log"
    command = [
        str(submit),
        "--class", SERVER_CLASS,
        "--master", "local[2]",
        "--driver-memory", "2g",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.ui.enabled=false",
        "--conf", f"spark.sql.warehouse.dir={log_path.parent / 'warehouse'}",
        "--conf", "spark.sql.shuffle.partitions=2",
        "spark-internal",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "SPARK_HOME"}
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepting(port):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-4000:]
                pytest.fail(f"the Spark Connect server did not start on port {port}:\n{tail}")
            with suppress(subprocess.TimeoutExpired):
                server.wait(timeout=0.5)  # returns early only if the server died
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
