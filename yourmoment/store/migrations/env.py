"""Alembic environment: migrates the database named in the config (set by yourmoment.store.db)."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from yourmoment.store.db import name_connection_failures
from yourmoment.store.models import Base

config = context.config


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
            hide_parameters=True,  # like yourmoment.store.db: errors never show values
        )
        if connectable.dialect.name == "postgresql":
            name_connection_failures(connectable)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
