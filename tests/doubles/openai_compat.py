"""An OpenAI-compatible chat-completions server on 127.0.0.1, scripted per test.

It stands in for a self-hosted model server (vLLM, Ollama, llama.cpp server, a LiteLLM proxy)
and is driven by the real `langchain-openai` client. `POST /v1/chat/completions` checks the
request the way such servers do (the served model id, message roles, every `tool` message
answering a tool call of an earlier assistant message, function tools with a name and JSON-schema
parameters, no streaming) and answers 400/401/404 like them; a valid request gets the next
scripted reply: text or tool calls, with `usage` (given, estimated from the request's size, or
left out as some servers do). Every request body is kept in `bodies` for the test to inspect.
A script step may be a function of the request body, to assert on what the model was sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.jira import JsonDouble, Reply, Request

__all__ = ["OpenAICompatDouble", "Step", "answer", "tool_call"]

ROLES = {"system", "user", "assistant", "tool"}


@dataclass(frozen=True)
class Step:
    """One scripted completion: text, or tool calls `(name, arguments)`; `usage` is
    `(prompt_tokens, completion_tokens)`, "estimate" (about 4 characters a token), or None to
    answer without a `usage` object."""

    content: str = ""
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    usage: tuple[int, int] | str | None = "estimate"


def answer(text: str, usage: tuple[int, int] | str | None = "estimate") -> Step:
    return Step(content=text, usage=usage)


def tool_call(
    name: str, args: dict[str, Any], usage: tuple[int, int] | str | None = "estimate"
) -> Step:
    return Step(calls=((name, args),), usage=usage)


Script = Step | Callable[[dict[str, Any]], Step]


def _problem(body: Any, model: str) -> tuple[int, str] | None:
    """What a real server would reject in this request body (status, message), or None."""
    if not isinstance(body, dict):
        return 400, "request body must be a JSON object"
    if body.get("model") != model:
        return 404, f"The model `{body.get('model')}` does not exist."
    if body.get("stream"):
        return 400, "this double does not stream"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 400, "messages must be a non-empty list"
    open_calls: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ROLES:
            return 400, f"messages[{i}].role must be one of {sorted(ROLES)}"
        if role == "assistant":
            open_calls |= {c["id"] for c in m.get("tool_calls") or []}
        if role == "tool" and m.get("tool_call_id") not in open_calls:
            return 400, f"messages[{i}]: tool message answers no earlier tool call"
    for j, tool in enumerate(body.get("tools") or []):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(fn, dict) or not fn.get("name"):
            return 400, f"tools[{j}] must be a function with a name"
        if not isinstance(fn.get("parameters"), dict) or fn["parameters"].get("type") != "object":
            return 400, f"tools[{j}].function.parameters must be a JSON schema object"
    return None


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


@dataclass
class OpenAICompatDouble(JsonDouble):
    """`POST /v1/chat/completions` answering from `script`, one step per request."""

    script: list[Script] = field(default_factory=list)
    model: str = "qwen3:8b"
    api_key: str | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def handle(self, req: Request) -> Reply:
        if req.method != "POST" or req.path != "/v1/chat/completions":
            return 404, {"error": {"message": f"no route {req.method} {req.path}"}}
        if (
            self.api_key is not None
            and req.headers.get("authorization") != f"Bearer {self.api_key}"
        ):
            return 401, {"error": {"message": "invalid api key", "type": "auth_error"}}
        problem = _problem(req.body, self.model)
        if problem is not None:
            return problem[0], {"error": {"message": problem[1], "type": "invalid_request_error"}}
        self.bodies.append(req.body)
        self.headers.append(req.headers)
        if not self.script:
            return 500, {"error": {"message": "the double's script is exhausted"}}
        step = self.script.pop(0)
        if callable(step):
            step = step(req.body)
        return 200, self._completion(req.body, step)

    def _completion(self, body: dict[str, Any], step: Step) -> dict[str, Any]:
        n = len(self.bodies)
        calls = [
            {
                "id": f"call_{n}_{k}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for k, (name, args) in enumerate(step.calls)
        ]
        message: dict[str, Any] = {"role": "assistant", "content": step.content or None}
        if calls:
            message["tool_calls"] = calls
        out: dict[str, Any] = {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion",
            "created": 1_764_000_000 + n,
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
            ],
        }
        if step.usage is not None:
            if step.usage == "estimate":
                prompt = _tokens(json.dumps(body.get("messages")) + json.dumps(body.get("tools")))
                completion = _tokens(step.content + json.dumps(calls))
            else:
                assert isinstance(step.usage, tuple)
                prompt, completion = step.usage
            out["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return out

    def tool_names(self, request: int) -> list[str]:
        """Names of the tools bound in the `request`-th request (0-based)."""
        return [t["function"]["name"] for t in self.bodies[request].get("tools") or []]

    def extend(self, steps: Sequence[Script]) -> None:
        self.script.extend(steps)
