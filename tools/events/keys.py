"""Provider API keys: read a key's state and disable it through the provider's admin API.

- Anthropic: `GET /v1/organizations/api_keys/{id}` returns the key with `status` (active,
  inactive, archived, expired); `POST /v1/organizations/api_keys/{id}` with
  `{"status": "inactive"}` disables it, and `{"status": "active"}` re-enables it (the rollback).
  Headers `x-api-key: <admin key>` and `anthropic-version: 2023-06-01`.
- OpenAI: project API keys cannot be paused, only deleted:
  `GET /v1/organization/projects/{project}/api_keys/{id}` (200 while the key exists) and
  `DELETE` on the same path (`{"deleted": true}`), with `Authorization: Bearer <admin key>`.
  Deletion is irreversible: the rollback is issuing a new key for the agent.

Base URLs and the admin key's environment variable come from `finops.yaml` (`anthropic:` /
`openai:`), so tests point them at a local double. Ids are checked against a strict pattern and
URL-quoted (they come from event data, which is never trusted to shape a request). The admin key
only travels in a header; error messages are redacted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, model_validator

from guardrails.approvals import ProposalDraft
from tools.settings import ToolSettings
from warehouse.errors import FinopsError
from warehouse.ingest.provider_api import ANTHROPIC_VERSION
from warehouse.settings import Strict

__all__ = ["AdminKeys", "KeyApiError", "KeyRef", "disable_key_draft"]

KeyProvider = Literal["anthropic", "openai"]
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}$"
_KEYLIKE = re.compile(r"\b(sk-[\w*.\-]+)")


class KeyApiError(FinopsError):
    """The provider's admin API refused or failed a key request."""


class KeyRef(Strict):
    """One provider API key (OpenAI keys live in a project, so they need its id)."""

    provider: KeyProvider
    api_key_id: str = Field(pattern=_ID)
    project_id: str | None = Field(default=None, pattern=_ID)

    @model_validator(mode="after")
    def _openai_needs_project(self) -> KeyRef:
        if self.provider == "openai" and not self.project_id:
            raise ValueError("an OpenAI key needs its project_id (keys are managed per project)")
        return self

    @property
    def target(self) -> str:
        if self.provider == "openai":
            return f"openai:projects/{self.project_id}/api_keys/{self.api_key_id}"
        return f"anthropic:api_keys/{self.api_key_id}"

    def path(self) -> str:
        key = quote(self.api_key_id, safe="")
        if self.provider == "openai":
            project = quote(self.project_id or "", safe="")
            return f"/v1/organization/projects/{project}/api_keys/{key}"
        return f"/v1/organizations/api_keys/{key}"


class AdminKeys:
    """Reads and disables keys with the admin key named in the config."""

    def __init__(
        self,
        config: ToolSettings,
        environ: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.config = config
        self.environ = os.environ if environ is None else environ
        self._own = http is None
        self.http = http or httpx.Client(timeout=30)

    def close(self) -> None:
        if self._own:
            self.http.close()

    def _settings(self, ref: KeyRef) -> tuple[str, str]:
        settings = self.config.openai if ref.provider == "openai" else self.config.anthropic
        secret = self.environ.get(settings.admin_key_env, "").strip()
        if not secret:
            raise KeyApiError(
                f"no {ref.provider} admin key: set the environment variable "
                f"{settings.admin_key_env}"
            )
        return settings.base_url.rstrip("/"), secret

    def _request(
        self, method: str, ref: KeyRef, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        base, secret = self._settings(ref)
        if ref.provider == "openai":
            headers = {"Authorization": f"Bearer {secret}"}
        else:
            headers = {"x-api-key": secret, "anthropic-version": ANTHROPIC_VERSION}
        try:
            return self.http.request(method, base + ref.path(), headers=headers, json=body)
        except httpx.TransportError as exc:
            raise KeyApiError(_redact(f"{ref.provider} admin API: {exc}", secret)) from None

    def _fail(self, ref: KeyRef, response: httpx.Response) -> KeyApiError:
        _, secret = self._settings(ref)
        text = response.text[:300]
        return KeyApiError(
            _redact(f"{ref.provider} admin API: HTTP {response.status_code}: {text}", secret)
        )

    def state(self, ref: KeyRef) -> str:
        """`active`, `inactive`, `archived`, `expired` (Anthropic) or `deleted`."""
        response = self._request("GET", ref)
        if response.status_code == 404:
            return "deleted"
        if response.status_code != 200:
            raise self._fail(ref, response)
        if ref.provider == "openai":
            return "active"
        return str(response.json().get("status", "unknown"))

    def disable(self, ref: KeyRef) -> dict[str, Any]:
        """Disable (Anthropic) or delete (OpenAI) the key; return what the provider confirmed."""
        if ref.provider == "openai":
            response = self._request("DELETE", ref)
            if response.status_code != 200 or response.json().get("deleted") is not True:
                raise self._fail(ref, response)
            return {"deleted": True, "api_key_id": ref.api_key_id, "project_id": ref.project_id}
        response = self._request("POST", ref, {"status": "inactive"})
        status = response.json().get("status") if response.status_code == 200 else None
        if status != "inactive":
            raise self._fail(ref, response)
        return {"status": "inactive", "api_key_id": ref.api_key_id}


def _redact(text: str, secret: str) -> str:
    if secret:
        text = text.replace(secret, "[redacted]")
    return _KEYLIKE.sub("[redacted]", text)


def _rollback(ref: KeyRef, agent_id: str, base_url: str) -> str:
    if ref.provider == "anthropic":
        return (
            f"Re-enable the key: POST {base_url.rstrip('/')}/v1/organizations/api_keys/"
            f'{ref.api_key_id} with {{"status": "active"}} (Admin API) or in the Console; '
            f"agent {agent_id} then works again unchanged."
        )
    return (
        f"OpenAI deletes project keys for good: create a new key in project {ref.project_id} "
        f"and deploy it to agent {agent_id}; nothing else changes."
    )


def disable_key_draft(
    ref: KeyRef,
    *,
    config: ToolSettings,
    agent_id: str,
    team: str | None,
    burn_rate_per_hour: Decimal,
    horizon_hours: Decimal,
    evidence: Mapping[str, Any],
    reason: str,
) -> ProposalDraft:
    """The proposal to disable one key: saving = current burn rate × the horizon."""
    saving = (burn_rate_per_hour * horizon_hours).quantize(Decimal("0.01"))
    settings = config.openai if ref.provider == "openai" else config.anthropic
    verb = "Delete" if ref.provider == "openai" else "Disable"
    return ProposalDraft(
        action="disable_api_key",
        target=ref.target,
        params={
            "provider": ref.provider,
            "api_key_id": ref.api_key_id,
            "project_id": ref.project_id,
            "agent_id": agent_id,
        },
        summary=f"{verb} {ref.provider} API key {ref.api_key_id} used by agent {agent_id}: "
        f"{reason}",
        evidence={
            **evidence,
            "expected_saving_basis": f"burn rate USD {burn_rate_per_hour:.2f}/h × "
            f"{horizon_hours} h (runaway.saving_horizon_hours)",
        },
        expected_monthly_saving=saving,
        currency="USD",
        risk="high" if ref.provider == "openai" else "medium",
        rollback=_rollback(ref, agent_id, settings.base_url),
        owner=team,
    )
