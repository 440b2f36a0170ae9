"""GitHub Issues ticket backend (REST API version 2022-11-28).

- create: `POST /repos/{owner}/{repo}/issues` with title / body / labels / assignees → 201
  `{"number", "html_url", ...}`;
- comment: `POST /repos/{owner}/{repo}/issues/{number}/comments` → 201;
- close: `PATCH /repos/{owner}/{repo}/issues/{number}` with `state: closed` → 200;
- find (dedup): `GET /repos/{owner}/{repo}/issues?labels=finops-…&state=all` (the list endpoint,
  not the search API, so a just-created issue is found at once).

A ticket's key is `owner/repo#number` (routing may send owners to different repositories). The
token is read from the variable the config names and sent as `Authorization: Bearer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from tools.tickets.backends import HttpApi, NewTicket, TicketBackendError, TicketRef, read_secret
from tools.tickets.config import GitHubSettings

__all__ = ["API_VERSION", "GitHubBackend"]

API_VERSION = "2022-11-28"


@dataclass
class GitHubBackend:
    settings: GitHubSettings
    api: HttpApi
    name: str = "github"

    @classmethod
    def build(
        cls,
        settings: GitHubSettings,
        environ: Mapping[str, str],
        timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> GitHubBackend:
        token = read_secret(environ, "tickets.github.token_env", settings.token_env)
        client = httpx.Client(
            base_url=settings.base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
            },
            timeout=timeout,
            transport=transport,
        )
        return cls(settings, HttpApi("github", client, (token,)))

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.api.secrets

    def find(self, label: str) -> TicketRef | None:
        repo = self.settings.repo
        data = self.api.call(
            "GET",
            f"/repos/{repo}/issues",
            ok=200,
            params={"labels": label, "state": "all", "per_page": 1},
        )
        return _ref(repo, data[0]) if isinstance(data, list) and data else None

    def create(self, ticket: NewTicket) -> TicketRef:
        repo = ticket.route.repo or self.settings.repo
        payload: dict[str, Any] = {
            "title": " ".join(ticket.title.split())[:256],
            "body": ticket.body,
            "labels": list(dict.fromkeys([*ticket.labels, ticket.dedup_label])),
        }
        if ticket.route.assignees:
            payload["assignees"] = list(ticket.route.assignees)
        data = self.api.call("POST", f"/repos/{repo}/issues", ok=201, json=payload)
        if not isinstance(data, dict) or not isinstance(data.get("number"), int):
            raise TicketBackendError(f"github POST /repos/{repo}/issues: answer has no number")
        return _ref(repo, data)

    def comment(self, key: str, text: str) -> None:
        repo, number = _split(key)
        path = f"/repos/{repo}/issues/{number}/comments"
        self.api.call("POST", path, ok=201, json={"body": text})

    def close(self, key: str) -> None:
        repo, number = _split(key)
        self.api.call(
            "PATCH",
            f"/repos/{repo}/issues/{number}",
            ok=200,
            json={"state": "closed", "state_reason": "completed"},
        )


def _ref(repo: str, issue: dict[str, Any]) -> TicketRef:
    return TicketRef(key=f"{repo}#{issue['number']}", url=issue.get("html_url"))


def _split(key: str) -> tuple[str, int]:
    repo, _, number = key.rpartition("#")
    if not repo or not number.isdigit():
        raise TicketBackendError(f"github: {key!r} is not an owner/repo#number ticket key")
    return repo, int(number)
