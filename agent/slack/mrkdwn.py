"""Text made safe for Slack's mrkdwn, and model Markdown converted to it.

Slack reads `<…>` in mrkdwn and in a message's fallback `text` as a control sequence: `<!channel>`
pings everyone, `<https://evil.example|Re-auth>` renders a masked link and `<@U…>` a mention.
Slack's "Formatting text for app surfaces" asks apps to escape exactly three characters in text
they did not write: `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`. `escape` does that for every piece of
user, bill, tag, resource or model text the app places in mrkdwn or fallback text; an entity
already escaped is kept as it is, so escaping twice never shows `&amp;lt;` (and an entity typed by
a user still cannot become a `<`). Control characters other than newline and tab are dropped.

`from_markdown` escapes first, then turns model Markdown into mrkdwn: `**bold**` → `*bold*`,
`*italic*` → `_italic_`, `~~strike~~` → `~strike~`, `# Heading` → a bold line, `- item` → `• item`,
`[text](url)` → `text (url)` (never a masked link), and pipe tables → an aligned code block.
Fenced code is kept verbatim (escaped), without its language tag.
"""

from __future__ import annotations

import html
import re

__all__ = ["escape", "from_markdown"]

_AMP = re.compile(r"&(?!(?:amp|lt|gt);)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BOLD = re.compile(r"(\*\*)(?=\S)(.+?)(?<=\S)\*\*|(?<!\w)(__)(?=\S)(.+?)(?<=\S)__(?!\w)")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(?=\S)")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_RULE = re.compile(r"^\s*:?-{2,}:?\s*$")
_MARK = "\x02"  # a bold marker while italics are converted (control characters are dropped)


def escape(text: str) -> str:
    """`text` with `&`, `<`, `>` escaped for mrkdwn (idempotent) and control characters dropped."""
    text = _CONTROL.sub("", str(text).replace("\r\n", "\n").replace("\r", "\n"))
    return _AMP.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


def from_markdown(text: str) -> str:
    """Model Markdown as Slack mrkdwn, escaped first (see the module docstring)."""
    out: list[str] = []
    lines = escape(text).split("\n")
    i, fenced = 0, False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append("```" if fenced or line.strip() == "```" else line)
            i += 1
            continue
        if fenced:
            out.append(line)
            i += 1
            continue
        if _is_row(line):
            j = i
            while j < len(lines) and _is_row(lines[j]):
                j += 1
            out.append(_table(lines[i:j]))
            i = j
            continue
        out.append(_inline(line))
        i += 1
    return "\n".join(out)


def _inline(line: str) -> str:
    heading = _HEADING.match(line)
    if heading:
        return "*" + _BOLD.sub(_bold_text, heading.group(1)) + "*"
    line = _BULLET.sub(r"\1• ", line)
    line = _LINK.sub(r"\1 (\2)", line)
    line = _BOLD.sub(lambda m: f"{_MARK}{_bold_text(m)}{_MARK}", line)
    line = _ITALIC.sub(r"_\1_", line)
    line = _STRIKE.sub(r"~\1~", line)
    return line.replace(_MARK, "*")


def _bold_text(match: re.Match[str]) -> str:
    return match.group(2) if match.group(2) is not None else match.group(4)


def _is_row(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) > 1 and stripped.startswith("|") and stripped.count("|") >= 2


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(rows: list[str]) -> str:
    """Pipe-table rows as a code block with aligned columns (widths as Slack shows them)."""
    table = [_cells(r) for r in rows if not all(_RULE.match(c) for c in _cells(r))]
    if not table:
        return ""
    columns = max(len(r) for r in table)
    table = [r + [""] * (columns - len(r)) for r in table]
    widths = [max(len(html.unescape(r[c])) for r in table) for c in range(columns)]
    body = [
        "  ".join(
            cell + " " * (widths[c] - len(html.unescape(cell))) for c, cell in enumerate(row)
        ).rstrip()
        for row in table
    ]
    return "```\n" + "\n".join(body) + "\n```"
