"""The list of ingest formats and format auto-detection.

Connectors are imported lazily by name so that adding a format is one line here and one module.
Detection tries them in `DETECTION_ORDER` (most specific header first) on a cheap probe.
"""

from __future__ import annotations

import importlib
import re
from functools import cache

from warehouse.errors import IngestError
from warehouse.ingest.base import Connector, LocalFile, Probe, probe
from warehouse.ingest.safety import clean

__all__ = ["DETECTION_ORDER", "FORMATS", "detect_format", "get_connector"]

FORMATS: dict[str, str] = {
    "focus": "warehouse.ingest.focus:FocusConnector",
    "aws-cur": "warehouse.ingest.aws_cur:AwsCurConnector",
    "azure": "warehouse.ingest.azure:AzureConnector",
    "oci": "warehouse.ingest.oci:OciConnector",
    "gcp": "warehouse.ingest.gcp:GcpConnector",
    "openai": "warehouse.ingest.openai:OpenAIConnector",
    "anthropic": "warehouse.ingest.anthropic:AnthropicConnector",
    "opencost": "warehouse.ingest.opencost:OpenCostConnector",
    "snowflake": "warehouse.ingest.snowflake:SnowflakeConnector",
    "mapped": "warehouse.ingest.mapped:MappedConnector",
    "finops-agent": "warehouse.ingest.agent_spend:AgentSpendConnector",
}
"""Format name → `module:Class` of its connector."""

DETECTION_ORDER: tuple[str, ...] = (
    "focus",
    "oci",
    "aws-cur",
    "azure",
    "gcp",
    "snowflake",
    "openai",
    "anthropic",
    "opencost",
)
"""Never guessed: `mapped` (needs a mapping file) and `finops-agent` (the agent writes it)."""


@cache
def get_connector(fmt: str) -> Connector:
    """The connector instance for a format name, with a clear error for unknown names."""
    target = FORMATS.get(fmt)
    if target is None:
        valid = ", ".join(["auto", *FORMATS])
        raise IngestError(f"unknown format {fmt!r}; valid formats: {valid}")
    module_name, _, cls_name = target.partition(":")
    module = importlib.import_module(module_name)
    connector: Connector = getattr(module, cls_name)()
    return connector


def detect_format(file: LocalFile) -> str:
    """Guess the format of one input from its header / schema / JSON shape."""
    p = probe(file)
    for fmt in DETECTION_ORDER:
        if get_connector(fmt).detect(p):
            return fmt
    raise IngestError(
        f"cannot detect the billing format ({_shape(p)}); "
        "pass --format (focus, aws-cur, azure, oci, gcp, openai, anthropic, opencost, "
        "snowflake, or mapped with --mapping)",
        file=file.display,
    )


_NAME = re.compile(r"[A-Za-z0-9_ ./:()\[\]-]{1,64}")


def _shape(p: Probe) -> str:
    """What the input looked like, without echoing an arbitrary file's first line: column names
    only when the first line has the shape of a CSV header (several short name-like fields)."""
    if p.document is not None or p.file.kind == "json":
        return f"a JSON {type(p.document).__name__} of an unknown shape"
    names = p.columns
    if len(names) >= 2 and all(_NAME.fullmatch(n) for n in names[:8]):
        shown = ", ".join(clean(n, 40) for n in names[:8])
        return f"{len(names)} columns, first: {shown}"
    return "the first line is not a billing header"
