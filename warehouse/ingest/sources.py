"""Resolve what the user named (paths, folders, globs, `s3://` prefixes) into local files.

`s3://bucket/prefix` is listed and downloaded through boto3, which honours `AWS_ENDPOINT_URL`
(so tests and the demo use moto's server on 127.0.0.1). Downloads go to a temporary folder that
the caller owns and removes.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from warehouse.cloud import CloudSettings, aws_client
from warehouse.errors import IngestError
from warehouse.ingest.base import LocalFile
from warehouse.ingest.safety import clean_error

__all__ = ["resolve_inputs"]

_DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".json", ".jsonl", ".json.gz", ".tsv", ".gz")

S3ClientFactory = Callable[[], Any]


def _default_s3_client() -> Any:
    """The shared S3 client: endpoint from `AWS_ENDPOINT_URL`, region as boto3 resolves it."""
    return aws_client("s3", None, CloudSettings.from_environ(os.environ))


def _is_data(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(_DATA_SUFFIXES) and not lower.endswith(("manifest.json",))


def _local(spec: str) -> list[LocalFile]:
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _is_data(p.name))
        if not files:
            raise IngestError("folder holds no .csv, .parquet or .json files", file=spec)
        return [LocalFile(p, str(p)) for p in files]
    if path.is_file():
        return [LocalFile(path, spec)]
    matches = sorted(glob.glob(spec))
    if matches:
        return [LocalFile(Path(m), m) for m in matches if Path(m).is_file()]
    raise IngestError("no such file or folder", file=spec)


def _s3(spec: str, workdir: Path, client_factory: S3ClientFactory) -> list[LocalFile]:
    bucket, _, prefix = spec.removeprefix("s3://").partition("/")
    if not bucket:
        raise IngestError("s3 URL needs a bucket: s3://bucket/prefix", file=spec)
    client = client_factory()
    keys: list[str] = []
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if _is_data(o["Key"])]
    except Exception as exc:
        raise IngestError(f"cannot list objects: {exc}", file=spec) from None
    if not keys:
        raise IngestError("no .csv, .parquet or .json objects under this prefix", file=spec)
    out = []
    for n, key in enumerate(sorted(keys)):
        target = workdir / f"{n:05d}_{Path(key).name}"
        try:
            client.download_file(bucket, key, str(target))
        except Exception as exc:
            raise IngestError(f"cannot download: {exc}", file=f"s3://{bucket}/{key}") from None
        out.append(LocalFile(target, f"s3://{bucket}/{key}"))
    return out


def resolve_inputs(
    specs: Sequence[str],
    workdir: Path,
    *,
    s3_client_factory: S3ClientFactory = _default_s3_client,
) -> list[LocalFile]:
    """Expand every input into local files; fail before ingesting when one is missing."""
    files: list[LocalFile] = []
    try:
        for spec in specs:
            if spec.startswith("s3://"):
                files += _s3(spec, workdir, s3_client_factory)
            else:
                files += _local(spec)
    except IngestError as exc:
        raise clean_error(exc) from None
    except OSError as exc:
        raise clean_error(IngestError(f"cannot read: {exc.strerror or exc}")) from None
    return files
