"""Alembic migrations of the store (script_location ``bot:migrations``).

Run them with ``secbot db upgrade`` (bot.store.db.upgrade) or, for development, the
``alembic`` CLI with the repo's alembic.ini. Revision files are date-prefixed:
``versions/YYYY_MM_DD_<rev>_<slug>.py``.
"""
