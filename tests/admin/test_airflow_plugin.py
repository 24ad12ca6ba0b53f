"""The Airflow plugin: Airflow finds it, its API server mounts the admin app, and Airflow's login decides
who acts (the JWT the UI sends as the ``_token`` cookie, or a bearer token)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mdm.admin.airflow_plugin import URL_PREFIX, SynchubAdminPlugin, admin_app
from mdm.store.models import AuditEntry, MatchDecision
from tests.admin.conftest import GOLDEN


def test_plugin_mounts_the_admin_app_under_a_url_prefix_with_a_menu_link() -> None:
    (mounted,) = SynchubAdminPlugin.fastapi_apps
    assert mounted["app"] is admin_app
    assert mounted["url_prefix"] == URL_PREFIX == "/synchub"
    (link,) = SynchubAdminPlugin.external_views
    assert link["name"] == "SyncHub"
    assert link["href"] == "/synchub/"
    assert link["destination"] == "nav"
    assert link["url_route"] == "synchub"


def test_airflow_loads_the_plugin_from_the_installed_package() -> None:
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    assert any(app["app"] is admin_app and app["url_prefix"] == URL_PREFIX for app in apps)


@pytest.fixture(scope="module")
def airflow_metadata(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Airflow's metadata DB (token checks read it) migrated in a temporary folder."""
    home = tmp_path_factory.mktemp("airflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
        patch.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
        # The simple auth manager writes generated passwords to a file: keep it out of the work tree.
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(home / "passwords.json"))
        from mdm.sync_run import prepare_airflow

        prepare_airflow()
        yield home


@pytest.fixture
def airflow_api(stocked, airflow_metadata):
    """Airflow's own API server app (with its auth manager and our plugin), and a way to sign in."""
    from airflow.api_fastapi.app import create_app, get_auth_manager

    client = TestClient(create_app(apps="core"))
    auth_manager = get_auth_manager()

    def token_for(username: str) -> str:
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

        return auth_manager.generate_jwt(SimpleAuthManagerUser(username=username, role="admin"))

    previous = admin_app.state.sessions  # the plugin's app opens SYNCHUB_DATABASE_URL once per process
    admin_app.state.sessions = stocked
    yield client, token_for
    admin_app.state.sessions = previous


def test_inside_airflow_pages_need_an_airflow_login(airflow_api) -> None:
    client, _ = airflow_api
    page = client.get(f"{URL_PREFIX}/")
    assert page.status_code == 401
    assert "Sign in to Airflow first" in page.text
    assert client.get(f"{URL_PREFIX}/", cookies={"_token": "not-a-jwt"}).status_code == 401


def test_inside_airflow_the_ui_token_cookie_or_a_bearer_token_signs_in(airflow_api) -> None:
    client, token_for = airflow_api
    token = token_for("carol")
    by_cookie = client.get(f"{URL_PREFIX}/golden/{GOLDEN}", cookies={"_token": token})
    assert by_cookie.status_code == 200
    assert "signed in as <strong>carol</strong>" in by_cookie.text
    assert f'href="{URL_PREFIX}/static/admin.css"' in by_cookie.text  # links stay under the mount
    by_bearer = client.get(f"{URL_PREFIX}/", headers={"Authorization": f"Bearer {token}"})
    assert by_bearer.status_code == 200


def test_inside_airflow_the_airflow_user_is_the_actor(airflow_api, stocked) -> None:
    client, token_for = airflow_api
    with stocked() as session:
        decision = session.scalar(select(MatchDecision.id).where(MatchDecision.status == "review"))
    done = client.post(
        f"{URL_PREFIX}/reviews/{decision}",
        data={"action": "reject"},
        headers={"Authorization": f"Bearer {token_for('dave')}"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"{URL_PREFIX}/reviews")
    with stocked() as session:
        assert session.get(MatchDecision, decision).decided_by == "dave"
        assert session.scalars(select(AuditEntry.actor)).one() == "dave"
