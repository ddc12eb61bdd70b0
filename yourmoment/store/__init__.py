"""The relational store: SQLAlchemy models, engine set-up, migrations and the repositories."""
