"""Where the store is: SYNCHUB_DATABASE_URL, else the Airflow connection synchub_store, else a local SQLite
file; and never a worker-local file under an executor that runs tasks on several machines."""

from __future__ import annotations

import json

import pytest

from mdm.store.db import DATABASE_URL_ENV, StoreConfigError, database_url, make_engine


@pytest.fixture
def no_store(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SYNCHUB_STORE", raising=False)
    monkeypatch.delenv("AIRFLOW__CORE__EXECUTOR", raising=False)
    monkeypatch.chdir(tmp_path)


def test_without_a_setting_the_store_is_a_sqlite_file_under_the_working_folder(no_store, tmp_path) -> None:
    assert database_url() == f"sqlite:///{tmp_path / 'var' / 'synchub.db'}"


def test_the_airflow_connection_synchub_store_names_a_postgresql_store(no_store, monkeypatch) -> None:
    connection = {"conn_type": "postgres", "host": "db.example", "port": 5432, "login": "synchub",
                  "password": "s3cr:t/pw", "schema": "mdm"}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_STORE", json.dumps(connection))
    url = database_url()
    assert url == "postgresql+psycopg://synchub:s3cr%3At%2Fpw@db.example:5432/mdm"
    assert make_engine(url).url.password == "s3cr:t/pw"


def test_the_environment_wins_over_the_connection(no_store, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_STORE", json.dumps({"conn_type": "postgres", "host": "db"}))
    monkeypatch.setenv(DATABASE_URL_ENV, f"sqlite:///{tmp_path / 'mine.db'}")
    assert database_url() == f"sqlite:///{tmp_path / 'mine.db'}"


@pytest.mark.parametrize("executor", ["CeleryExecutor", "KubernetesExecutor", "LocalExecutor,CeleryExecutor"])
def test_a_distributed_executor_refuses_an_unset_store(no_store, monkeypatch, executor) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    with pytest.raises(StoreConfigError, match=r"not set.*Executor.*SYNCHUB_DATABASE_URL.*synchub_store"):
        database_url()


def test_a_distributed_executor_refuses_a_sqlite_store_and_hides_nothing_else(no_store, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv(DATABASE_URL_ENV, "sqlite:////srv/synchub.db")
    with pytest.raises(StoreConfigError, match="SQLite file .*CeleryExecutor"):
        database_url()
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql+psycopg://synchub:pw@db/mdm")
    assert database_url() == "postgresql+psycopg://synchub:pw@db/mdm"


def test_the_local_executor_keeps_a_sqlite_store(no_store, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    assert database_url().startswith("sqlite:///")


def test_a_connection_of_another_type_is_refused_naming_it(no_store, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SYNCHUB_STORE", json.dumps({"conn_type": "mysql", "host": "db"}))
    with pytest.raises(StoreConfigError, match="synchub_store: conn_type 'mysql'"):
        database_url()
