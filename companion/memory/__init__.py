"""Per-user memory: SQLite (or any SQLAlchemy URL) store, migrations, fact extraction, retrieval."""
