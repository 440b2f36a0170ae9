"""The `tickets:` section of `finops.yaml`: where approved tickets are filed and how they follow
their proposal.

`backend` picks the tracker: `local` (default: the `tickets` table of `state.db`), `jira` (Jira
Cloud REST v3) or `github` (GitHub Issues). Credentials are never written in the config: the
`jira` and `github` blocks name the environment variables that hold them (checked to look like a
variable name, so a pasted token fails validation instead of landing in a file).

`routes` maps an owner (a virtual-tag value such as a team) to its Jira project or GitHub
repository, assignees and extra labels. `close_on` lists the events of the tracked proposal that
close the ticket.

    tickets:
      backend: jira
      jira:
        base_url: https://example.atlassian.net
        project: FIN
        email_env: JIRA_EMAIL
        token_env: JIRA_API_TOKEN
      labels: [finops]
      routes:
        payments: {project: PAY, labels: [payments]}
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from tools.notify.config import EnvName, HttpUrl
from warehouse.settings import Strict

__all__ = [
    "CLOSE_EVENTS",
    "GitHubSettings",
    "JiraSettings",
    "TicketRoute",
    "TicketsConfig",
]

CloseEvent = Literal["done", "rejected", "expired", "failed", "rolled_back"]
CLOSE_EVENTS: tuple[str, ...] = ("done", "rejected", "expired", "failed", "rolled_back")

_JIRA_PROJECT = re.compile(r"^[A-Z][A-Z0-9_]{1,9}$")
_REPO = re.compile(r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$")
_LABEL = re.compile(r"^[^\s,]{1,50}$")


def _project(value: str) -> str:
    if not _JIRA_PROJECT.match(value):
        raise ValueError(f"expected a Jira project key such as FIN, got {value!r}")
    return value


def _repo(value: str) -> str:
    if not _REPO.match(value):
        raise ValueError(f"expected a GitHub repository as owner/name, got {value!r}")
    return value


def _labels(values: list[str]) -> list[str]:
    bad = [v for v in values if not _LABEL.match(v)]
    if bad:
        raise ValueError(f"labels cannot contain spaces or commas: {bad}")
    return values


ProjectKey = Annotated[str, AfterValidator(_project)]
RepoName = Annotated[str, AfterValidator(_repo)]
Labels = Annotated[list[str], AfterValidator(_labels)]


def _priorities() -> dict[Literal["low", "medium", "high"], str]:
    return {"low": "Low", "medium": "Medium", "high": "High"}


def _close_on() -> list[CloseEvent]:
    return ["done", "rejected", "expired"]


class TicketRoute(Strict):
    """Where one owner's tickets go (fields left out fall back to the backend's settings)."""

    project: ProjectKey | None = Field(default=None, description="Jira project key for this owner.")
    repo: RepoName | None = Field(default=None, description="GitHub owner/name for this owner.")
    assignees: list[str] = Field(
        default_factory=list,
        description="GitHub logins, or one Jira accountId, to assign the ticket to.",
    )
    labels: Labels = Field(default_factory=list, description="Extra labels for this owner.")


class JiraSettings(Strict):
    """Jira Cloud: `POST /rest/api/3/issue` with basic auth (account email + API token)."""

    base_url: HttpUrl = Field(description="Site URL, e.g. https://example.atlassian.net")
    project: ProjectKey = Field(description="Default project key, e.g. FIN.")
    issue_type: str = Field(default="Task", min_length=1, max_length=60)
    email_env: EnvName = Field(default="JIRA_EMAIL", description="Variable with the account email.")
    token_env: EnvName = Field(default="JIRA_API_TOKEN", description="Variable with the API token.")
    close_transition: str | None = Field(
        default=None,
        description="Transition (or target status) name that closes an issue; default: the first "
        "transition into the Done status category.",
    )
    priorities: dict[Literal["low", "medium", "high"], str] = Field(
        default_factory=_priorities,
        description="Ticket priority → Jira priority name.",
    )


class GitHubSettings(Strict):
    """GitHub Issues: `POST /repos/{owner}/{repo}/issues` with a bearer token."""

    base_url: HttpUrl = Field(default="https://api.github.com", description="API root URL.")
    repo: RepoName = Field(description="Default repository, owner/name.")
    token_env: EnvName = Field(default="GITHUB_TOKEN", description="Variable with the token.")


class TicketsConfig(Strict):
    """Ticket backend, routing by owner, and which proposal events close a ticket."""

    backend: Literal["local", "jira", "github"] = "local"
    jira: JiraSettings | None = None
    github: GitHubSettings | None = None
    labels: Labels = Field(default_factory=lambda: ["finops"], description="On every ticket.")
    routes: dict[str, TicketRoute] = Field(
        default_factory=dict, description="Owner (virtual-tag value) → project/repo, assignees."
    )
    close_on: list[CloseEvent] = Field(
        default_factory=_close_on,
        description="Events of the tracked proposal that close its ticket.",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _backend_settings(self) -> TicketsConfig:
        if self.backend == "jira" and self.jira is None:
            raise ValueError("tickets.backend is jira: add tickets.jira (base_url, project)")
        if self.backend == "github" and self.github is None:
            raise ValueError("tickets.backend is github: add a tickets.github block (repo)")
        return self

    def route(self, owner: str | None) -> TicketRoute:
        """The owner's route, or an empty one."""
        return self.routes.get(owner or "", TicketRoute())
