"""Ticket backends behind one small interface: find (dedup), create, comment, close.

`LocalBackend` is the embedded default: the `tickets` table of `state.db` is the ticket and its
comments go to `ticket_comments`. `JiraBackend` (tools/tickets/jira.py) and `GitHubBackend`
(tools/tickets/github.py) speak the real REST APIs over httpx. Every backend call here is a write
to a ticket system or a read for deduplication; callers only make writes that an approved
`open_ticket` proposal covers (see tools/tickets/service.py).

Secrets are read from the environment variables the config names, when the backend is built, and
listed in `secrets` so every error message is scrubbed of them before it is raised, stored,
logged or audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, Field

from tools.tickets.config import TicketRoute
from warehouse.errors import FinopsError
from warehouse.state.store import StateStore, utc_text

__all__ = [
    "REDACTED",
    "HttpApi",
    "LocalBackend",
    "NewTicket",
    "TicketBackend",
    "TicketBackendError",
    "TicketRef",
    "dedup_label",
    "read_secret",
    "scrub",
]

REDACTED = "[redacted]"


class TicketBackendError(FinopsError):
    """A ticket system refused or could not be reached; the message never holds a secret."""


class TicketRef(BaseModel):
    """A ticket as the tracker names it: key (FIN-12, owner/repo#7, or the local id) and URL."""

    key: str
    url: str | None = None


class NewTicket(BaseModel):
    """What to file: plain text the backends render in their own format."""

    local_id: int
    title: str
    body: str
    owner: str | None
    priority: str
    labels: list[str] = Field(default_factory=list)
    dedup_label: str
    route: TicketRoute = Field(default_factory=TicketRoute)


class TicketBackend(Protocol):
    """One tracker. `find` looks a ticket up by its dedup label (so a retry never files twice)."""

    name: str

    @property
    def secrets(self) -> tuple[str, ...]: ...

    def find(self, label: str) -> TicketRef | None: ...

    def create(self, ticket: NewTicket) -> TicketRef: ...

    def comment(self, key: str, text: str) -> None: ...

    def close(self, key: str) -> None: ...


def dedup_label(dedup_key: str) -> str:
    """The label that marks a ticket's dedup key in the tracker (no spaces: valid in Jira)."""
    return "finops-" + hashlib.sha256(dedup_key.encode()).hexdigest()[:12]


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret (6+ characters) replaced by a marker."""
    for secret in sorted((s for s in secrets if len(s) >= 6), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def read_secret(environ: Mapping[str, str], setting: str, name: str) -> str:
    """The value of the variable `name` that config setting `setting` names; a clear error when
    it is unset (the message names the variable, never a value)."""
    value = environ.get(name, "")
    if not value:
        raise TicketBackendError(f"{setting} names {name}, which is not set in the environment")
    return value


@dataclass
class HttpApi:
    """JSON over httpx with errors that name the call and status, scrubbed of secrets."""

    system: str
    client: httpx.Client
    secrets: tuple[str, ...]

    def call(self, method: str, path: str, *, ok: int, **kwargs: Any) -> Any:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._error(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if response.status_code != ok:
            raise self._error(f"{method} {path}: HTTP {response.status_code}: {_reason(response)}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise self._error(f"{method} {path}: the answer is not JSON") from None

    def _error(self, message: str) -> TicketBackendError:
        return TicketBackendError(scrub(f"{self.system} {message}", self.secrets)[:500])


def _reason(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        parts = [*data.get("errorMessages", []), *dict(data.get("errors") or {}).values()]
        if data.get("message"):
            parts.insert(0, data["message"])
        return "; ".join(str(p) for p in parts)[:200] or str(data)[:200]
    return str(data)[:200]


@dataclass
class LocalBackend:
    """The `tickets` table is the ticket; comments are rows of `ticket_comments`."""

    store: StateStore
    clock: Callable[[], datetime]
    name: str = "local"

    @property
    def secrets(self) -> tuple[str, ...]:
        return ()

    def find(self, label: str) -> TicketRef | None:
        return None

    def create(self, ticket: NewTicket) -> TicketRef:
        return TicketRef(key=str(ticket.local_id))

    def comment(self, key: str, text: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO ticket_comments (ticket_id, at, body) VALUES (?, ?, ?)",
                (int(key), utc_text(self.clock()), text),
            )

    def close(self, key: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE tickets SET status = 'closed' WHERE id = ?", (int(key),))
