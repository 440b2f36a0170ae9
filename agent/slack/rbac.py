"""Who may do what from Slack: roles from the config, user groups from Slack, per-user chat limits,
and the scope a limited viewer is held to.

A user's role is the highest of their own grant and their user groups' grants (groups resolved
with `usergroups.users.list`, cached). A viewer with a `scope` (e.g. `{team: [payments]}`) is held
to it twice: a question naming another value of that virtual tag is refused before any model
call, and the tools the model may call are cut down to the spend tools with a filter argument,
each forced to filter on the allowed values (`vtag:team=payments`), so the answer cannot leak
another team's spend whatever the model does. Every refusal is audited by the caller.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from agent.slack.config import ROLE_RANK, RoleGrant, SlackConfig
from tools.context import ToolContext
from tools.registry import ToolRegistry, ToolSpec
from tools.spend.engine import parse_filter
from warehouse.errors import FinopsError

__all__ = [
    "Access",
    "Principal",
    "RateLimiter",
    "ScopeRefusal",
    "check_question",
    "scoped_registry",
]


log = logging.getLogger("finops.slack")


class ScopeRefusal(FinopsError):
    """A scoped viewer asked for spend outside their scope."""


@dataclass(frozen=True)
class Principal:
    """A Slack user's effective role."""

    user: str
    role: str
    scope: dict[str, list[str]] = field(default_factory=dict)
    actions: tuple[str, ...] = ()
    all_actions: bool = False

    def at_least(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    def may_decide(self, action: str) -> bool:
        """Whether this user may click Approve / Reject on a proposal of `action`."""
        if self.role == "admin":
            return True
        return self.role == "approver" and (self.all_actions or action in self.actions)

    def scope_filters(self) -> list[str]:
        """The spend filters a scoped viewer is held to, e.g. ["vtag:team=payments"]."""
        return [f"vtag:{tag}={','.join(values)}" for tag, values in sorted(self.scope.items())]


def _merge(user: str, grants: list[RoleGrant], default: str) -> Principal:
    if not grants:
        return Principal(user=user, role=default)
    top = max(ROLE_RANK[g.role] for g in grants)
    role = next(r for r, rank in ROLE_RANK.items() if rank == top)
    approver = [g for g in grants if g.role == "approver"]
    viewers = [g for g in grants if g.role == "viewer"]
    scope: dict[str, list[str]] = {}
    if role == "viewer" and all(g.scope for g in viewers):
        for g in viewers:
            for tag, values in g.scope.items():
                scope[tag] = sorted({*scope.get(tag, []), *values})
    return Principal(
        user=user,
        role=role,
        scope=scope,
        actions=tuple(sorted({a for g in approver for a in g.actions})),
        all_actions=any(not g.actions for g in approver),
    )


class Access:
    """Resolves Slack users to principals (config grants + user groups, cached)."""

    def __init__(
        self, config: SlackConfig, client: WebClient, clock: Callable[[], datetime]
    ) -> None:
        self.config = config
        self.client = client
        self.clock = clock
        self._groups: dict[str, tuple[datetime, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def principal(self, user: str) -> Principal:
        grants = []
        for key, grant in self.config.roles.items():
            if key == user or (key.startswith("S") and user in self._members(key)):
                grants.append(grant)
        return _merge(user, grants, self.config.default_role)

    def _members(self, group: str) -> frozenset[str]:
        now = self.clock()
        ttl = timedelta(seconds=self.config.group_cache_seconds)
        with self._lock:
            cached = self._groups.get(group)
            if cached and now - cached[0] < ttl:
                return cached[1]
        try:
            users = self.client.usergroups_users_list(usergroup=group).get("users") or []
        except SlackApiError as exc:
            # still failing after the client's retries (e.g. rate limited): keep what was known,
            # and ask again next time rather than dropping everyone's role for a whole TTL
            log.warning("usergroups.users.list %s failed: %s", group, exc.response.get("error"))
            return cached[1] if cached else frozenset()
        members = frozenset(str(u) for u in users)
        with self._lock:
            self._groups[group] = (now, members)
        return members


class RateLimiter:
    """At most `limit` chat questions per user in a sliding window, on an injected clock."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], datetime]) -> None:
        self.limit = limit
        self.window = timedelta(seconds=window_seconds)
        self.clock = clock
        self._hits: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def allow(self, user: str) -> datetime | None:
        """None when allowed (and counted); otherwise when the next question will be allowed."""
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(user, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window
            hits.append(now)
            return None


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9_.-]*", text)}


def check_question(principal: Principal, question: str, known: Mapping[str, Iterable[str]]) -> None:
    """Refuse a scoped viewer's question that names a value of a scoped tag they may not see.

    `known` maps each scoped virtual tag to every value it takes in the warehouse.
    """
    words = _words(question)
    for tag, allowed in principal.scope.items():
        allowed_lower = {a.lower() for a in allowed}
        others = sorted(v for v in known.get(tag, ()) if v.lower() not in allowed_lower)
        named = [v for v in others if v.lower() in words]
        if named:
            raise ScopeRefusal(
                f"You can see {tag} {', '.join(allowed)} only; this question asks about "
                f"{tag} {', '.join(named)}. Ask a FinOps analyst for other teams' figures."
            )


def _scoped_run(spec: ToolSpec, principal: Principal) -> Callable[[ToolContext, Any], Any]:
    forced = principal.scope_filters()
    allowed = {f"vtag:{t}".lower(): {v.lower() for v in vs} for t, vs in principal.scope.items()}

    def outside(text: str) -> bool:
        f = parse_filter(text)
        values = allowed.get(f.dimension.lower())
        return values is not None and (f.negate or any(v.lower() not in values for v in f.values))

    def run(ctx: ToolContext, args: Any) -> Any:
        for text in getattr(args, "filters", []):
            if outside(text):
                message = (
                    f"filter {text!r} is outside your scope ({'; '.join(forced)}); "
                    "your results are already limited to it"
                )
                payload = {"tool": spec.name, "code": "scope", "message": message}
                ctx.audit.append("refusal", ctx.actor, payload, run_id=ctx.run_id)
                raise ScopeRefusal(message)
        return spec.run(ctx, args.model_copy(update={"filters": [*args.filters, *forced]}))

    return run


def scoped_registry(
    base: ToolRegistry, principal: Principal, on_tool: Callable[[str], None] | None = None
) -> ToolRegistry:
    """The tools `principal` may call, each reporting its name to `on_tool` before it runs.

    Viewers get no write tools; a scoped viewer gets only the tools with a `filters` argument,
    each forced to the viewer's scope. Actions (what approved proposals run) are unchanged.
    """
    tools: dict[str, ToolSpec] = {}
    for name, spec in base.tools.items():
        if principal.role == "viewer" and spec.effect == "write":
            continue
        run = spec.run
        if principal.scope:
            if "filters" not in spec.args.model_fields:
                continue
            run = _scoped_run(spec, principal)
        tools[name] = replace(spec, run=_announced(name, run, on_tool))
    return ToolRegistry(tools=tools, actions=base.actions)


def _announced(
    name: str, run: Callable[[ToolContext, Any], Any], on_tool: Callable[[str], None] | None
) -> Callable[[ToolContext, Any], Any]:
    if on_tool is None:
        return run

    def wrapped(ctx: ToolContext, args: Any) -> Any:
        on_tool(name)
        return run(ctx, args)

    return wrapped
