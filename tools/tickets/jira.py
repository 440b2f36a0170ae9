"""Jira Cloud REST v3 ticket backend.

- create: `POST /rest/api/3/issue` with `fields` project / summary / description (Atlassian
  Document Format) / issuetype / labels / priority (and assignee when the owner's route names
  one) → 201 `{"id", "key", "self"}`;
- comment: `POST /rest/api/3/issue/{key}/comment` with an ADF `body` → 201;
- close: `GET /rest/api/3/issue/{key}/transitions`, then `POST` the chosen transition id → 204;
- find (dedup): `GET /rest/api/3/search/jql` with `labels = "finops-…"` (the enhanced search
  that replaced `/rest/api/3/search`).

Basic auth with the account email and an API token, both read from the variables the config
names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from tools.tickets.backends import HttpApi, NewTicket, TicketBackendError, TicketRef, read_secret
from tools.tickets.config import JiraSettings

__all__ = ["JiraBackend", "adf"]


def adf(text: str) -> dict[str, Any]:
    """Plain text as an ADF document: blank lines split paragraphs, newlines become hardBreaks
    (ADF rejects empty text nodes, so empty input is one empty paragraph)."""
    paragraphs: list[dict[str, Any]] = []
    for block in (b for b in text.split("\n\n") if b.strip()):
        content: list[dict[str, Any]] = []
        for line in block.strip("\n").split("\n"):
            if content:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs or [{"type": "paragraph"}]}


@dataclass
class JiraBackend:
    settings: JiraSettings
    api: HttpApi
    name: str = "jira"

    @classmethod
    def build(
        cls,
        settings: JiraSettings,
        environ: Mapping[str, str],
        timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> JiraBackend:
        email = read_secret(environ, "tickets.jira.email_env", settings.email_env)
        token = read_secret(environ, "tickets.jira.token_env", settings.token_env)
        client = httpx.Client(
            base_url=settings.base_url.rstrip("/"),
            auth=httpx.BasicAuth(email, token),
            headers={"Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        return cls(settings, HttpApi("jira", client, (token,)))

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.api.secrets

    def _ref(self, key: str) -> TicketRef:
        return TicketRef(key=key, url=f"{self.settings.base_url.rstrip('/')}/browse/{key}")

    def find(self, label: str) -> TicketRef | None:
        data = self.api.call(
            "GET",
            "/rest/api/3/search/jql",
            ok=200,
            params={"jql": f'labels = "{label}" ORDER BY created ASC', "fields": "summary",
                    "maxResults": 1},
        )  # fmt: skip
        issues = (data or {}).get("issues") or []
        return self._ref(str(issues[0]["key"])) if issues else None

    def create(self, ticket: NewTicket) -> TicketRef:
        route = ticket.route
        fields: dict[str, Any] = {
            "project": {"key": route.project or self.settings.project},
            "summary": " ".join(ticket.title.split())[:255],
            "description": adf(ticket.body),
            "issuetype": {"name": self.settings.issue_type},
            "labels": list(dict.fromkeys([*ticket.labels, ticket.dedup_label])),
        }
        priority = {str(k): v for k, v in self.settings.priorities.items()}.get(ticket.priority)
        if priority:
            fields["priority"] = {"name": priority}
        if route.assignees:
            fields["assignee"] = {"accountId": route.assignees[0]}
        data = self.api.call("POST", "/rest/api/3/issue", ok=201, json={"fields": fields})
        if not isinstance(data, dict) or not data.get("key"):
            raise TicketBackendError("jira POST /rest/api/3/issue: answer has no issue key")
        return self._ref(str(data["key"]))

    def comment(self, key: str, text: str) -> None:
        self.api.call("POST", f"/rest/api/3/issue/{key}/comment", ok=201, json={"body": adf(text)})

    def close(self, key: str) -> None:
        path = f"/rest/api/3/issue/{key}/transitions"
        data = self.api.call("GET", path, ok=200)
        transitions = (data or {}).get("transitions") or []
        chosen = _closing(transitions, self.settings.close_transition)
        if chosen is None:
            names = ", ".join(str(t.get("name")) for t in transitions) or "none"
            raise TicketBackendError(f"jira {key}: no closing transition available ({names})")
        self.api.call("POST", path, ok=204, json={"transition": {"id": str(chosen["id"])}})


def _closing(transitions: list[dict[str, Any]], wanted: str | None) -> dict[str, Any] | None:
    """The configured transition (by its name or its target status name), else the first one
    into the Done status category."""
    for t in transitions:
        to = t.get("to") or {}
        if wanted is not None:
            if wanted.lower() in (str(t.get("name", "")).lower(), str(to.get("name", "")).lower()):
                return t
        elif (to.get("statusCategory") or {}).get("key") == "done":
            return t
    return None
