"""``synchub ui``: the admin view served standalone (the same app the Airflow plugin mounts)."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer

UI_USER_ENV = "SYNCHUB_UI_USER"
UI_PASSWORD_ENV = "SYNCHUB_UI_PASSWORD"
LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ui(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8090,
    user: Annotated[
        str | None,
        typer.Option(
            envvar=UI_USER_ENV,
            help="Who acts in this admin view: recorded with every decision, replay and discard.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the admin view (dashboard, review queue, golden records, error queue) on HOST:PORT.

    Every page needs a user name (--user or SYNCHUB_UI_USER): it is recorded with each action.

    With SYNCHUB_UI_PASSWORD set, the browser signs in as that user (HTTP basic auth); else loopback only.
    """
    import uvicorn

    from mdm.admin.app import create_app
    from mdm.admin.auth import standalone_actor
    from mdm.store.db import database_url, redacted

    if not user or not user.strip():
        typer.echo(f"Error: a user name is required: --user NAME or {UI_USER_ENV}.", err=True)
        raise typer.Exit(2)
    password = os.environ.get(UI_PASSWORD_ENV) or None
    if password is None and not _is_loopback(host):
        typer.echo(
            f"Error: serving {host} needs {UI_PASSWORD_ENV} (HTTP basic auth); without it only a loopback "
            "address (127.0.0.1, localhost) may be served.",
            err=True,
        )
        raise typer.Exit(2)
    app = create_app(standalone_actor(user, password))
    sign_in = "HTTP basic auth" if password else "no password (loopback only)"
    typer.echo(
        f"SyncHub admin on http://{host}:{port}/ as {user.strip()} ({sign_in}); "
        f"store {redacted(database_url())}"
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
