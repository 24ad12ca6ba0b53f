"""Engine and session set-up, and schema upgrades through Alembic."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

DATABASE_URL_ENV = "SYNCHUB_DATABASE_URL"
STORE_CONN_ID = "synchub_store"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class StoreConfigError(ValueError):
    """The database URL is unusable; the message names the setting, never the password."""


def database_url() -> str:
    """The store: ``SYNCHUB_DATABASE_URL``, else the Airflow connection ``synchub_store``, else a SQLite
    file ``var/synchub.db`` under the working directory.

    Under a distributed executor (Celery, Kubernetes ...) each worker would keep a SQLite file of its
    own, so there an unset store or a SQLite one is refused (``StoreConfigError``).
    """
    url = os.environ.get(DATABASE_URL_ENV, "").strip() or store_connection_url()
    executor = distributed_executor()
    if not url:
        if executor:
            raise StoreConfigError(
                f"SyncHub's store is not set, and Airflow runs the {executor}: every worker would keep a "
                f"SQLite file of its own. Set {DATABASE_URL_ENV} or the Airflow connection {STORE_CONN_ID} "
                "to a PostgreSQL database all workers reach"
            )
        return f"sqlite:///{Path.cwd() / 'var' / 'synchub.db'}"
    if executor and url.startswith("sqlite"):
        raise StoreConfigError(
            f"SyncHub's store is a SQLite file ({redacted(url)}), and Airflow runs the {executor}: every "
            f"worker would write a file of its own. Point {DATABASE_URL_ENV} or the Airflow connection "
            f"{STORE_CONN_ID} at a PostgreSQL database all workers reach"
        )
    return url


def store_connection_url() -> str | None:
    """The SQLAlchemy URL of the Airflow connection ``synchub_store`` (type postgres or sqlite), if
    Airflow knows one; None when it does not (or Airflow is not installed)."""
    try:
        from airflow.exceptions import AirflowNotFoundException

        from connectors.airflow_connection import airflow_connection
    except ImportError:  # no Airflow here: the store is named another way
        return None
    try:
        conn = airflow_connection(STORE_CONN_ID)
    except AirflowNotFoundException:
        return None
    except Exception as exc:  # a lookup that failed is no answer: never fall back to a local file then
        raise StoreConfigError(
            f"Airflow connection {STORE_CONN_ID} cannot be read: {type(exc).__name__}"
        ) from None
    kind = (conn.conn_type or "").lower()
    if kind in ("postgres", "postgresql"):
        return URL.create(
            "postgresql+psycopg",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
        ).render_as_string(hide_password=False)
    if kind == "sqlite":
        return f"sqlite:///{conn.host}"
    raise StoreConfigError(
        f"Airflow connection {STORE_CONN_ID}: conn_type {conn.conn_type!r} is not a store SyncHub "
        "supports (postgres, or sqlite for a single machine)"
    )


DISTRIBUTED = ("Celery", "Kubernetes", "Edge", "Batch", "Ecs", "Lambda")


def distributed_executor() -> str | None:
    """The executor Airflow is configured with when it runs tasks on other machines (Celery,
    Kubernetes ...); None for the local ones or when Airflow's configuration is not at hand."""
    names = os.environ.get("AIRFLOW__CORE__EXECUTOR", "")
    if not names and "airflow.configuration" in sys.modules:
        try:
            names = sys.modules["airflow.configuration"].conf.get("core", "executor", fallback="")
        except Exception:  # a configuration Airflow cannot read names no executor
            names = ""
    for name in (part.strip() for part in str(names).split(",")):
        short = name.rsplit(".", 1)[-1]
        if short and any(short.startswith(kind) for kind in DISTRIBUTED):
            return short
    return None


def redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: ``database_url()``); SQLite gets foreign keys and WAL."""
    url = url or database_url()
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreConfigError(f"{DATABASE_URL_ENV} is not a valid SQLAlchemy URL: {redacted(url)}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # psycopg 3 is the pinned driver; plain postgresql:// would look for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    return config


def upgrade_database(url: str | None = None, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    command.upgrade(alembic_config(url or database_url()), revision)


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
