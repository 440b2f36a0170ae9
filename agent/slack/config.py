"""The `slack:` section of `finops.yaml`: where the tokens come from, which channels get cards and
the digest, who may do what, and the chat rate limit.

Tokens are never written in the config itself: the section names the environment variables (or a
secrets file) that hold them, so the YAML can be committed. Roles map Slack user ids (`U…`, `W…`)
and user-group ids (`S…`) to one of four roles:

- `viewer`: asks questions and reads reports; `scope` may limit it to some virtual-tag values
  (`{team: [payments]}`: only the payments team's spend),
- `analyst`: every read, proposals, `/finops sweep`,
- `approver`: analyst plus Approve / Reject on the action types in `actions` (empty: all),
- `admin`: everything.

Example:

    slack:
      approvals_channel: C0APPROVALS
      digest_channel: C0FINOPS
      roles:
        U0PAYVIEW: {role: viewer, scope: {team: [payments]}}
        S0FINOPS: {role: analyst}
        U0OPSLEAD: {role: approver, actions: [stop_ec2_instances, open_ticket]}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from warehouse.settings import Strict

__all__ = ["ROLE_RANK", "RoleGrant", "SlackConfig"]

Role = Literal["viewer", "analyst", "approver", "admin"]
ROLE_RANK: dict[str, int] = {"none": 0, "viewer": 1, "analyst": 2, "approver": 3, "admin": 4}
_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,30}$")


class RoleGrant(Strict):
    """One user's or user group's role."""

    role: Role
    scope: dict[str, list[str]] = Field(
        default_factory=dict,
        description="viewer only: virtual tag → the values this viewer may see "
        "(e.g. {team: [payments]}).",
    )
    actions: list[str] = Field(
        default_factory=list,
        description="approver only: action types this approver may decide (empty: all).",
    )

    @model_validator(mode="after")
    def _fits_role(self) -> RoleGrant:
        if self.scope and self.role != "viewer":
            raise ValueError(f"scope applies to the viewer role only, not {self.role}")
        if self.actions and self.role != "approver":
            raise ValueError(f"actions applies to the approver role only, not {self.role}")
        for tag, values in self.scope.items():
            if not values:
                raise ValueError(f"scope.{tag} needs at least one value")
        return self


class SlackConfig(Strict):
    """The Slack app: tokens by reference, channels, roles and the chat rate limit."""

    bot_token_env: str = Field(
        default="SLACK_BOT_TOKEN", description="Environment variable holding the xoxb- token."
    )
    signing_secret_env: str = Field(
        default="SLACK_SIGNING_SECRET",
        description="Environment variable holding the signing secret (HTTP mode).",
    )
    app_token_env: str = Field(
        default="SLACK_APP_TOKEN",
        description="Environment variable holding the xapp- token (Socket Mode).",
    )
    secrets_file: Path | None = Field(
        default=None,
        description="Optional YAML/KEY=VALUE file with the same variable names; the environment "
        "wins. Keep it readable by the service user only.",
    )
    base_url: str = Field(
        default="https://slack.com/api/", description="Slack Web API base URL (ends with /)."
    )
    approvals_channel: str | None = Field(
        default=None, description="Channel id where every proposal gets an approval card."
    )
    digest_channel: str | None = Field(
        default=None, description="Channel id for the sweep's digest."
    )
    owner_channels: dict[str, str] = Field(
        default_factory=dict,
        description="Proposal owner (team) → channel or user id that also gets its cards.",
    )
    roles: dict[str, RoleGrant] = Field(
        default_factory=dict, description="Slack user or user-group id → role."
    )
    default_role: Literal["none", "viewer", "analyst"] = Field(
        default="none", description="Role of users not listed (none: refused)."
    )
    chat_per_user: int = Field(
        default=10, ge=1, description="Chat questions one user may ask per window."
    )
    chat_window_seconds: float = Field(default=300, gt=0)
    chat_workers: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Threads answering chat questions: a pool of their own, so acks, clicks and "
        "slash commands never wait behind a slow model.",
    )
    group_cache_seconds: float = Field(
        default=300, gt=0, description="How long user-group memberships are cached."
    )

    @field_validator("base_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url {value!r} must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("roles")
    @classmethod
    def _ids(cls, value: dict[str, RoleGrant]) -> dict[str, RoleGrant]:
        for key in value:
            if not _SLACK_ID.match(key):
                raise ValueError(
                    f"roles key {key!r} is not a Slack user (U…/W…) or user-group (S…) id"
                )
        return value
