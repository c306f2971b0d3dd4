"""Alembic environment: migrations run on the connection the engine hands over."""

from __future__ import annotations

from alembic import context

from session_engine.engine.backends import normalise_url
from session_engine.engine.schema import all_metadata

target_metadata = all_metadata()


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        import sqlalchemy as sa

        url = context.config.get_main_option("sqlalchemy.url")
        engine = sa.create_engine(normalise_url(url))
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
