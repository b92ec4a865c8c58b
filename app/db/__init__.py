"""Database helpers: SQLite write turns, the PostgreSQL connection check."""
