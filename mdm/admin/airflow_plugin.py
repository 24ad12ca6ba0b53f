"""The Airflow plugin: the admin app mounted in Airflow 3's API server, with a link in the UI's menu.

Registered through the ``airflow.plugins`` entry point in ``pyproject.toml``, so any Airflow with
SyncHub installed loads it, whatever its AIRFLOW_HOME. The app lives at ``/synchub/`` of the API
server; the menu entry "SyncHub" shows it inside the UI. Access follows Airflow's authentication:
``airflow_actor`` takes the signed-in user from the JWT the UI sends, and that name is the actor of
every review decision, replay and discard.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from mdm.admin.app import create_app
from mdm.admin.auth import airflow_actor

URL_PREFIX = "/synchub"

admin_app = create_app(airflow_actor)


class SynchubAdminPlugin(AirflowPlugin):
    """SyncHub's admin view (dashboard, review queue, golden records, error queue) inside Airflow."""

    name = "synchub_admin"
    fastapi_apps = [{"app": admin_app, "url_prefix": URL_PREFIX, "name": "SyncHub admin"}]
    # With a url_route the UI shows the page in a frame at /plugin/synchub, as it does Airflow's own
    # legacy views (href "/pluginsv2/"); the app's links are absolute paths under URL_PREFIX.
    external_views = [
        {
            "name": "SyncHub",
            "href": URL_PREFIX + "/",
            "destination": "nav",
            "url_route": "synchub",
        }
    ]
