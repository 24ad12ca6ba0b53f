"""An Airflow connection found where Airflow's own components find it.

Inside a task the Task SDK asks the API server, which reads the metastore. Outside a task (``synchub
connections test``, ``synchub errors replay``, a shell) the Task SDK reads only environment variables
(``AIRFLOW_CONN_*``) and the configured secrets backends, so a connection added with ``airflow
connections add`` (stored in the metastore) is not found there. Airflow core's lookup
(``airflow.models.Connection.get_connection_from_secrets``) walks the core search path, environment
variables, then the metastore (``MetastoreBackend``), as ``airflow connections get`` does: SyncHub falls
back to it when the Task SDK does not know the connection.
"""

from __future__ import annotations

from typing import Any


def airflow_connection(conn_id: str) -> Any:
    """The connection ``conn_id``: the Task SDK's, else (outside a task) Airflow core's, metastore included.

    Raises Airflow's ``AirflowNotFoundException`` when neither knows it.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        pass
    from airflow.models.connection import Connection

    return Connection.get_connection_from_secrets(conn_id)
