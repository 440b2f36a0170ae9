"""Alerts, continued: e-mail over STARTTLS with login against aiosmtpd on 127.0.0.1, the state
migration, and `finops notify test` / `finops notify log`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from agent.cli import notify as cli_notify
from agent.cli.main import app as finops_app
from agent.config import Config, Home
from agent.context import AppContext
from guardrails.audit import AuditLog
from tests.doubles.notify import HttpRecorder, SmtpRecorder, self_signed_cert
from tests.helpers.agent import Clock
from tests.helpers.cli import run_cli
from tools.notify.config import NotifyConfig
from tools.notify.service import Alert, send
from warehouse.state.store import StateStore

PASSWORD = "smtp-pa55word-very-secret"
ENV = {"SMTP_USER": "finops-bot", "SMTP_PASSWORD": PASSWORD}


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path)


def mail_config(port: int, **changes: Any) -> NotifyConfig:
    channel = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "starttls": True,
        "username_env": "SMTP_USER",
        "password_env": "SMTP_PASSWORD",
        "from": "finops@example.com",
        "to": ["oncall@example.com"],
        **changes,
    }
    return NotifyConfig.model_validate({"channels": {"mail": channel}, "default": ["mail"]})


def alert(n: int = 1) -> Alert:
    return Alert(id=f"b-{n}", kind="budget", severity="warning", title="Budget 80% used")


def send_mail(config: NotifyConfig, store: StateStore, env: dict[str, str], n: int = 1) -> Any:
    sleeps: list[float] = []
    report = send(alert(n), config, store, clock=Clock(), sleep=sleeps.append, environ=env)
    return report.by_channel("mail"), sleeps


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path / "state.db")
    yield s
    s.close()


def test_starttls_and_login_from_env(cert: tuple[Path, Path], store: StateStore) -> None:
    with SmtpRecorder(tls=cert, login=("finops-bot", PASSWORD)) as smtp:
        config = mail_config(smtp.port, ca_file=str(cert[0]))
        result, sleeps = send_mail(config, store, ENV)
        assert (result.status, result.attempts, sleeps) == ("sent", 1, [])
        [(rcpts, message, authenticated)] = smtp.messages
        assert rcpts == ["oncall@example.com"] and authenticated
        assert message["Subject"] == "[WARNING] Budget 80% used"
        assert smtp.logins == ["finops-bot"]


def test_wrong_password_is_not_retried_and_not_logged(
    cert: tuple[Path, Path], store: StateStore, tmp_path: Path
) -> None:
    with SmtpRecorder(tls=cert, login=("finops-bot", "the-right-one")) as smtp:
        config = mail_config(smtp.port, ca_file=str(cert[0]))
        result, sleeps = send_mail(config, store, ENV)
    assert (result.status, result.attempts, sleeps) == ("failed", 1, [])
    assert result.detail.startswith("SMTP 535") and result.detail.endswith("(not retried)")
    entries = AuditLog(store, Clock()).entries(kind="notification")
    assert PASSWORD not in json.dumps([e.payload for e in entries])
    assert PASSWORD.encode() not in (tmp_path / "state.db").read_bytes()


def test_untrusted_certificate_fails_without_retry(
    cert: tuple[Path, Path], store: StateStore
) -> None:
    with SmtpRecorder(tls=cert, login=("finops-bot", PASSWORD)) as smtp:
        result, sleeps = send_mail(mail_config(smtp.port), store, ENV)
        assert not smtp.messages
    assert (result.status, result.attempts, sleeps) == ("failed", 1, [])
    assert result.detail.startswith("TLS: ") and "certificate" in result.detail


def test_server_without_starttls_is_refused(store: StateStore) -> None:
    with SmtpRecorder() as smtp:
        result, _ = send_mail(mail_config(smtp.port), store, ENV)
        assert not smtp.messages
    assert result.status == "failed" and "STARTTLS" in result.detail


# --- state migration --------------------------------------------------------------------------


def test_alerts_migration_applies_once_and_after_a_gap(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = StateStore(db)
    versions = {r["version"]: r["name"] for r in store.query("SELECT * FROM state_migrations")}
    assert versions[6] == "alerts"
    assert store.migrate() == []
    with store.transaction() as conn:
        conn.execute("DROP TABLE alert_deliveries")
        conn.execute("DELETE FROM state_migrations WHERE version = 6")
    store.close()
    reopened = StateStore(db)
    try:
        assert reopened.query("SELECT count(*) AS n FROM alert_deliveries")[0]["n"] == 0
        assert 6 in {r["version"] for r in reopened.query("SELECT version FROM state_migrations")}
    finally:
        reopened.close()


# --- CLI --------------------------------------------------------------------------------------


def local_app(home: Path, config: Config | None = None) -> typer.Typer:
    """`finops notify …` on its own, over `home` (independent of agent/cli/main.py registering
    it)."""
    app = typer.Typer()

    @app.callback()
    def _global(ctx: typer.Context) -> None:
        ctx.obj = AppContext(home=Home(home), config=config or Config())

    cli_notify.register(app)
    return app


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app_config(request: pytest.FixtureRequest) -> Config:
    """The default config (SQLite state in the home), or `state.url` on the test PostgreSQL."""
    if request.param == "sqlite":
        return Config()
    return Config.model_validate({"state": {"url": request.getfixturevalue("pg_url")}})


def test_send_probe_and_log(tmp_path: Path, app_config: Config) -> None:
    """The delivery is ledgered in the configured state store and `notify log` reads it there."""
    with HttpRecorder() as http:
        config = NotifyConfig.model_validate(
            {"channels": {"hook": {"type": "webhook", "url": http.url("/h"), "secret_env": "S"}}}
        )
        app = AppContext(home=Home(tmp_path), config=app_config)
        report = cli_notify.send_probe(
            app, "hook", clock=Clock(), environ={"S": "secret-value-1"}, config=config
        )
        assert report.by_channel("hook").status == "sent" and report.routed_by == ["explicit"]
        assert json.loads(http.requests[0].body)["alert"]["kind"] == "test"

    runner = CliRunner()
    result = runner.invoke(local_app(tmp_path, app_config), ["notify", "log", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["deliveries"]
    assert (row["channel"], row["status"], row["kind"], row["attempts"]) == (
        "hook",
        "sent",
        "test",
        1,
    )
    table = runner.invoke(local_app(tmp_path, app_config), ["notify", "log"])
    assert table.exit_code == 0 and "hook" in table.stdout and "sent" in table.stdout
    sqlite_file = tmp_path / "state.db"
    assert sqlite_file.exists() == (app_config.state.url is None)


def test_notify_test_unknown_channel(tmp_path: Path) -> None:
    result = CliRunner().invoke(local_app(tmp_path), ["notify", "test", "nope"])
    assert result.exit_code != 0
    assert "unknown channel 'nope'" in str(result.exception)


def _hooked() -> bool:
    names = {g.name for g in finops_app.registered_groups}
    return "notify" in Config.model_fields and "notify" in names


@pytest.mark.skipif(not _hooked(), reason="notify not yet hooked into agent/config.py and cli.py")
def test_finops_notify_test_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpRecorder() as http:
        http.respond("/down", 400, b"bad")
        channels = {
            "up": {"type": "slack_webhook", "url_env": "FINOPS_TEST_SLACK_URL"},
            "down": {"type": "webhook", "url": http.url("/down"), "secret_env": "FINOPS_TEST_S"},
        }
        (tmp_path / "finops.yaml").write_text(yaml.safe_dump({"notify": {"channels": channels}}))
        monkeypatch.setenv("FINOPS_TEST_SLACK_URL", http.url("/slack/T1/B2/secret"))
        monkeypatch.setenv("FINOPS_TEST_S", "whsec-0123456789")
        home = ["--home", str(tmp_path)]
        ok = run_cli(capsys, *home, "notify", "test", "up")
        assert ok.code == 0 and "up (slack_webhook): sent after 1 attempt(s)" in ok.out
        bad = run_cli(capsys, *home, "notify", "test", "down", "--json")
        assert bad.code == 1 and bad.json()["results"][0]["status"] == "failed"
        assert bad.err.startswith("error: test alert to down failed: HTTP 400: bad")
        log = run_cli(capsys, *home, "notify", "log", "--json")
        assert [d["channel"] for d in log.json()["deliveries"]] == ["down", "up"]
