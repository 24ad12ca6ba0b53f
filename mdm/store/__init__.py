"""The master-data store: SQLAlchemy 2.0 models, engine set-up and Alembic migrations.

``SYNCHUB_DATABASE_URL`` selects the database (SQLite by default, PostgreSQL in production);
callers never branch on the dialect: dialect-specific upserts live in ``mdm.store.staging``.
"""

from mdm.store.db import database_url, make_engine, session_factory, upgrade_database
from mdm.store.models import Base, Run, SourceRecord, Watermark

__all__ = [
    "Base",
    "Run",
    "SourceRecord",
    "Watermark",
    "database_url",
    "make_engine",
    "session_factory",
    "upgrade_database",
]
