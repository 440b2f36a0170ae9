"""Value and key normalization, in Python and as the equivalent SQL (tested to agree)."""

from __future__ import annotations

import re

__all__ = ["key_variants", "normalize_sql", "normalize_value", "source_key"]

_SEPARATORS = re.compile(r"[\s_./-]+")
_SQL_SEPARATORS = r"[\s_./-]+"
_KEY_PREFIXES = ("resource_tags_user_", "resourcetags/user:", "user:")


def normalize_value(raw: str, case: str = "lower", separator: str | None = "-") -> str:
    """`  Payments_Team ` → `payments-team` (lower case, separator runs collapsed, trimmed)."""
    text = raw.strip()
    if separator is not None:
        text = _SEPARATORS.sub(separator, text).strip(separator)
    if case == "lower":
        return text.lower()
    if case == "upper":
        return text.upper()
    return text


def normalize_sql(expr: str, case: str = "lower", separator: str | None = "-") -> str:
    """The SQL for `normalize_value` over a VARCHAR expression (NULL stays NULL)."""
    out = f"trim({expr})"
    if separator is not None:
        sep = separator.replace("'", "''")
        out = f"trim(regexp_replace({out}, '{_SQL_SEPARATORS}', '{sep}', 'g'), '{sep}')"
    if case == "lower":
        return f"lower({out})"
    if case == "upper":
        return f"upper({out})"
    return out


def source_key(key: str) -> str:
    """The Tags key for a source as users write it: CUR's `resource_tags_user_team` → `team`."""
    text = key.strip()
    for prefix in _KEY_PREFIXES:
        if text.lower().startswith(prefix):
            return text[len(prefix) :]
    return text


def key_variants(key: str) -> list[str]:
    """The spellings of one key tried in order: as written, lower, Capitalized, UPPER."""
    return list(dict.fromkeys([key, key.lower(), key[:1].upper() + key[1:].lower(), key.upper()]))
