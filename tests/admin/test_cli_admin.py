"""``synchub ui``: it refuses to serve without a user name, or beyond loopback without a password."""

from __future__ import annotations

from typer.testing import CliRunner

from mdm.cli import app

runner = CliRunner()


def test_ui_needs_a_user_name(monkeypatch) -> None:
    monkeypatch.delenv("SYNCHUB_UI_USER", raising=False)
    result = runner.invoke(app, ["ui"])
    assert result.exit_code == 2
    assert "--user NAME or SYNCHUB_UI_USER" in result.output


def test_ui_refuses_a_non_loopback_address_without_a_password(monkeypatch) -> None:
    monkeypatch.delenv("SYNCHUB_UI_PASSWORD", raising=False)
    result = runner.invoke(app, ["ui", "--user", "alice", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "SYNCHUB_UI_PASSWORD" in result.output


def test_ui_serves_the_admin_app_as_the_user(monkeypatch) -> None:
    served = {}

    def fake_run(app, host: str, port: int, log_level: str) -> None:  # noqa: ANN001 - the ASGI app
        served.update(app=app, host=host, port=port)

    monkeypatch.setenv("SYNCHUB_UI_PASSWORD", "s3cret-pass")
    monkeypatch.setattr("uvicorn.run", fake_run)
    result = runner.invoke(app, ["ui", "--user", "alice", "--host", "0.0.0.0", "--port", "9999"])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("0.0.0.0", 9999)
    assert "as alice (HTTP basic auth)" in result.output
    assert "s3cret-pass" not in result.output
