"""The store: SQLAlchemy models, engine and unit of work, repositories.

The only package (with bot.migrations) that imports sqlalchemy or alembic. Repositories
in ``repos/`` take the session explicitly and never commit: the caller owns the
transaction (``bot.store.db.session_scope``).
"""
