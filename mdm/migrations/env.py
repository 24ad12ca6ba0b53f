"""Alembic environment: the URL comes from ``mdm.store.db`` (SYNCHUB_DATABASE_URL), never from a file."""

from __future__ import annotations

from alembic import context

from mdm.store.db import database_url, make_engine
from mdm.store.models import Base

config = context.config
url = config.attributes.get("database_url") or database_url()

engine = make_engine(url)
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
