"""Fixtures for running the DAGs through Airflow (``dag.test()``) against seeded sandboxes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sandbox.seed import SeedOptions

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Airflow's metadata DB in a temporary folder, the repository's DAG folder, quiet logs."""
    home = tmp_path_factory.mktemp("airflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
        patch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
        patch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        patch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(home / "logs"))
        patch.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
        yield home


@contextmanager
def sandboxes_and_store(
    seed: SeedOptions, airflow_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Seeded sandboxes with their connections in the environment, and an empty migrated store.

    The sandboxes are started as the ``sandbox_factory`` fixture does; the store is the ``store``
    fixture's (the database named by SYNCHUB_DATABASE_URL, emptied, or a new SQLite file). Yields the
    store URL; stops the sandboxes afterwards.
    """
    from mdm.store.db import DATABASE_URL_ENV, upgrade_database
    from sandbox.runner import SandboxConfig, start_sandboxes
    from tests.conftest import _empty_database

    url = os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{airflow_home / 'store.db'}"
    if os.environ.get(DATABASE_URL_ENV):
        _empty_database(url)
    running = start_sandboxes(
        SandboxConfig(
            seed=seed, crm_port=0, erp_port=0, state_dir=tmp_path_factory.getbasetemp() / "sandbox-state"
        )
    )
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(DATABASE_URL_ENV, url)
            patch.setenv("AIRFLOW_CONN_SYNCHUB_CRM", json.dumps(running.crm_connection()))
            patch.setenv("AIRFLOW_CONN_SYNCHUB_ERP", json.dumps(running.erp_connection()))
            patch.setenv("REQUESTS_CA_BUNDLE", str(running.ca_bundle))
            upgrade_database(url)
            yield url
    finally:
        running.stop()


TOY = Path(__file__).with_name("toy")


@contextmanager
def toy_entity(root: Path, mapping: dict | None = None) -> Iterator[None]:
    """The toy entity declared (SYNCHUB_ENTITY_MODULES) with its mapping and suite next to the built-in
    ones under ``root``; ``mapping``: a toy mapping of the test's own instead of tests/dags/toy/toy.yaml."""
    import shutil

    import yaml

    mappings, suites = root / "mappings", root / "suites"
    shutil.copytree(REPO / "mappings", mappings)
    shutil.copytree(REPO / "mdm" / "quality" / "suites", suites)
    if mapping is None:
        shutil.copy(TOY / "toy.yaml", mappings / "toy.yaml")
    else:
        (mappings / "toy.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    shutil.copy(TOY / "toy_suite.yaml", suites / "toy.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(TOY))
        patch.setenv("SYNCHUB_ENTITY_MODULES", "toy_entity")
        patch.setenv("SYNCHUB_MAPPINGS_DIR", str(mappings))
        patch.setenv("SYNCHUB_QUALITY_SUITES_DIR", str(suites))
        yield


@contextmanager
def store_session(url: str) -> Iterator[Any]:
    """A session on the store at ``url`` for a test to read what a run left, the engine disposed after."""
    from mdm.store.db import make_engine, session_factory

    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()
