"""Ingest connectors: every billing format into FOCUS rows, one transaction per ingest."""

from warehouse.ingest.base import LocalFile
from warehouse.ingest.registry import FORMATS, detect_format, get_connector
from warehouse.ingest.runner import IngestReport, run_ingest
from warehouse.ingest.sources import resolve_inputs

__all__ = [
    "FORMATS",
    "IngestReport",
    "LocalFile",
    "detect_format",
    "get_connector",
    "resolve_inputs",
    "run_ingest",
]
