"""Error hierarchy for operator-facing failures.

Every error the CLI shows is a `FinopsError`: its `str()` is the one-line message printed before a
non-zero exit. Lower layers raise the most specific subclass so callers can react precisely.
"""

from __future__ import annotations

__all__ = ["ConfigError", "FinopsError", "IngestError", "QueryError"]


class FinopsError(Exception):
    """Base class of every error meant for the operator."""


class ConfigError(FinopsError):
    """The configuration file or an option is invalid."""


class QueryError(FinopsError):
    """A spend query was asked with an invalid dimension, filter, period or metric."""


class IngestError(FinopsError):
    """A billing input could not be ingested; the warehouse is left unchanged.

    The message names the file and, where known, the row (1-based, counting data rows after the
    header) and the column, so the operator can open the file at the right place.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.detail = message
        where = [
            p
            for p in (file, f"row {row:,}" if row else None, f"column {column}" if column else None)
            if p
        ]
        super().__init__(f"{': '.join([', '.join(where)]) + ': ' if where else ''}{message}")
