"""Shared fixtures: the store on SQLite or PostgreSQL.

Store tests take the ``store_url`` or ``store`` fixture. By default they run on a fresh SQLite
file; when ``SYNCHUB_DATABASE_URL`` is set (the PostgreSQL pass of ``.ci/run``) they run against that
database (under xdist one per worker, ``<database>_gw0``, ...), which is emptied before each test.
Such tests are marked ``store`` automatically, so ``pytest -m store`` selects exactly them; tests
that start a sandbox are marked ``integration`` the same way, so ``pytest -m "not integration"``
(``make test-fast``) runs the rest.
"""

from __future__ import annotations

import inspect as pyinspect
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from mdm.store.db import DATABASE_URL_ENV, make_engine, session_factory, upgrade_database
from mdm.store.models import Base

# requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment override a session's own
# ``verify``. Some machines set them globally; the tests pass the sandbox CA explicitly instead
# (and set REQUESTS_CA_BUNDLE themselves where that is what they test).
for _name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(_name, None)


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist with a PostgreSQL ``SYNCHUB_DATABASE_URL``, each worker takes its own database,
    ``<database>_<worker>`` (``.ci/run`` creates them), so parallel tests never empty each other's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get(DATABASE_URL_ENV)
    if worker and url and url.startswith("postgresql"):
        parsed = make_url(url)
        os.environ[DATABASE_URL_ENV] = parsed.set(database=f"{parsed.database}_{worker}").render_as_string(
            hide_password=False
        )


# What starts a sandbox: the fixture, the runner, the DAG tests' helper, an in-process server, a
# process (`synchub sandbox up`).
SANDBOX_STARTERS = re.compile(
    r"\bsandbox_factory\b|\bstart_sandboxes\(|\bstart_sap_sandbox\(|\bsandboxes_and_store\(|\bserve\(|\bPopen\("
)


@cache
def _source(func: Any) -> str:
    try:
        return pyinspect.getsource(func)
    except (OSError, TypeError):
        return ""


@cache
def _module_starters(module: Any) -> frozenset[str]:
    """The module's own functions that start a sandbox, directly or through another of them."""
    functions = {
        name: _source(value)
        for name, value in vars(module).items()
        if pyinspect.isfunction(value) and value.__module__ == module.__name__
    }
    found = {name for name, text in functions.items() if SANDBOX_STARTERS.search(text)}
    while True:
        more = {name for name, text in functions.items() if name not in found and _calls(text, found)}
        if not more:
            return frozenset(found)
        found |= more


def _calls(text: str, names: frozenset[str] | set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(name)}\(", text) for name in names)


def _starts_a_sandbox(item: pytest.Item) -> bool:
    """Whether the test, one of its fixtures (the whole closure) or a function of its module it calls
    starts a sandbox."""
    function = getattr(item, "function", None)
    if function is None:
        return False
    module = pyinspect.getmodule(function)
    starters = _module_starters(module) if module else frozenset()
    funcs = [function]
    fixture_info = getattr(item, "_fixtureinfo", None)
    for definitions in fixture_info.name2fixturedefs.values() if fixture_info else ():
        funcs += [d.func for d in definitions if getattr(d.func, "__module__", "").startswith("tests")]
    for func in funcs:
        text = _source(func)
        if SANDBOX_STARTERS.search(text) or _calls(text, starters):
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``store`` on every test that takes the store; ``integration`` on every test that starts a
    sandbox (``make test-fast`` runs the others)."""
    for item in items:
        if {"store_url", "store"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.store)
        if _starts_a_sandbox(item):
            item.add_marker(pytest.mark.integration)


def _empty_database(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            if "alembic_version" in inspect(conn).get_table_names():
                conn.execute(text("DROP TABLE alembic_version"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def reports_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Reports (Data Docs, the DQ report) of every test go to a temporary folder, never to var/reports.

    Session-scoped, so module-scoped fixtures that run a sync see it too.
    """
    path = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYNCHUB_REPORTS_DIR", str(path))
        yield path


@pytest.fixture
def store_url(tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database: the one named by SYNCHUB_DATABASE_URL, or a new SQLite file."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        _empty_database(url)
    else:
        url = f"sqlite:///{tmp_path / 'store.db'}"
        monkeypatch.setenv(DATABASE_URL_ENV, url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on a migrated, empty store."""
    upgrade_database(store_url)
    engine = make_engine(store_url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def sandbox_factory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Start fresh sandboxes for one test: ``sandbox_factory(seed=SeedOptions(...))`` or ``(data_dir=...)``.

    Publishes their Airflow connections (AIRFLOW_CONN_SYNCHUB_CRM / _ERP) and REQUESTS_CA_BUNDLE in
    the environment, as ``source var/sandbox.env`` would, and stops them after the test.
    """
    import json

    from sandbox.faults import FaultConfig
    from sandbox.runner import SandboxConfig, start_sandboxes

    started = []
    state_dir = tmp_path_factory.getbasetemp() / "sandbox-state"  # one CA for the whole session

    def start(
        seed=None,
        data_dir=None,
        page_size: int = 0,
        daily_api_limit: int = 1_000_000,
        crm_faults: FaultConfig | None = None,
        erp_faults: FaultConfig | None = None,
        batch_stops_at_failure: bool = True,
        crm_synchub_fields: bool = True,
        same_customer_numbers: bool = False,
        sap_metadata_dir=None,
    ):
        running = start_sandboxes(
            SandboxConfig(
                seed=seed,
                data_dir=data_dir,
                crm_port=0,
                erp_port=0,
                state_dir=state_dir,
                page_size=page_size,
                batch_stops_at_failure=batch_stops_at_failure,
                crm_synchub_fields=crm_synchub_fields,
                same_customer_numbers=same_customer_numbers,
                sap_metadata_dir=sap_metadata_dir,
                daily_api_limit=daily_api_limit,
                crm_faults=crm_faults or FaultConfig(),
                erp_faults=erp_faults or FaultConfig(),
            )
        )
        started.append(running)
        monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_CRM", json.dumps(running.crm_connection()))
        monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(running.erp_connection()))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(running.ca_bundle))
        return running

    yield start
    for running in started:
        running.stop()


_clients: dict[str, dict[str, Any]] = {}


def sandbox_connectors() -> dict[str, Any]:
    """One connector per system for the running sandboxes (logged in once: their usage accumulates),
    built from the Airflow connections ``sandbox_factory`` published; new ones for new sandboxes."""
    from connectors.salesforce import SalesforceConnector
    from connectors.sap import SapConnector

    sandbox = os.environ["AIRFLOW_CONN_SYNCHUB_CRM"]
    if sandbox not in _clients:
        _clients.clear()
        _clients[sandbox] = {
            "salesforce": SalesforceConnector.from_airflow(),
            "sap": SapConnector.from_airflow(),
        }
    return _clients[sandbox]
