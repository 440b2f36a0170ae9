"""A GitHub Issues REST double on 127.0.0.1 that checks request shapes like the real service.

Requires `Authorization: Bearer <token>` (401 `Bad credentials` otherwise), `Accept:
application/vnd.github+json` and `X-GitHub-Api-Version: 2022-11-28` (400 otherwise). Implements
create issue (201 with number and html_url; 400 on unparseable JSON, 422 when the title is
missing or labels/assignees are not string lists), list issues by label, create comment and
update the state (PATCH).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.jira import JsonDouble, Reply, Request

__all__ = ["GitHubDouble"]


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


@dataclass
class GitHubDouble(JsonDouble):
    token: str = "ghp_double_token_0123456789"
    repos: tuple[str, ...] = ("acme/finops", "acme/payments")
    issues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[str, list[str]] = field(default_factory=dict)

    def handle(self, req: Request) -> Reply:
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials", "status": "401"}
        if req.headers.get("accept") != "application/vnd.github+json":
            return 400, {"message": "Accept must be application/vnd.github+json"}
        if req.headers.get("x-github-api-version") != "2022-11-28":
            return 400, {"message": "X-GitHub-Api-Version 2022-11-28 is required"}
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues(?:/(\d+)(/comments)?)?", req.path)
        if not m or m[1] not in self.repos:
            return 404, {"message": "Not Found"}
        repo, number, comments = m[1], m[2], m[3]
        if number is None:
            return self._create(repo, req.body) if req.method == "POST" else self._list(repo, req)
        issue = next((i for i in self.issues.get(repo, []) if i["number"] == int(number)), None)
        if issue is None:
            return 404, {"message": "Not Found"}
        if comments and req.method == "POST":
            return self._comment(repo, issue, req.body)
        if not comments and req.method == "PATCH":
            return self._update(issue, req.body)
        return 404, {"message": "Not Found"}

    def _create(self, repo: str, body: Any) -> Reply:
        if not isinstance(body, dict):
            return 400, {"message": "Problems parsing JSON"}
        title = body.get("title")
        ok = isinstance(title, str) and title.strip() and isinstance(body.get("body", ""), str)
        if (
            not ok
            or not _strings(body.get("labels", []))
            or not _strings(body.get("assignees", []))
        ):
            return 422, {"message": "Validation Failed", "errors": [{"resource": "Issue"}]}
        issues = self.issues.setdefault(repo, [])
        number = len(issues) + 1
        issue = {
            "id": 1000 + number,
            "number": number,
            "title": title,
            "body": body.get("body", ""),
            "state": "open",
            "labels": [{"name": n} for n in body.get("labels", [])],
            "assignees": [{"login": a} for a in body.get("assignees", [])],
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "url": f"{self.url}/repos/{repo}/issues/{number}",
        }
        issues.append(issue)
        return 201, issue

    def _list(self, repo: str, req: Request) -> Reply:
        if req.method != "GET":
            return 404, {"message": "Not Found"}
        wanted = set(",".join(req.query.get("labels", [""])).split(",")) - {""}
        state = (req.query.get("state") or ["open"])[0]
        found = [
            i for i in self.issues.get(repo, [])
            if wanted <= {lb["name"] for lb in i["labels"]} and state in ("all", i["state"])
        ]  # fmt: skip
        return 200, found[: int((req.query.get("per_page") or ["30"])[0])]

    def _comment(self, repo: str, issue: dict[str, Any], body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
            return 422, {"message": "Validation Failed"}
        key = f"{repo}#{issue['number']}"
        self.comments.setdefault(key, []).append(body["body"])
        return 201, {"id": len(self.comments[key]), "body": body["body"]}

    def _update(self, issue: dict[str, Any], body: Any) -> Reply:
        if not isinstance(body, dict) or body.get("state") not in ("open", "closed"):
            return 422, {"message": "Validation Failed"}
        issue["state"] = body["state"]
        issue["state_reason"] = body.get("state_reason")
        return 200, issue
