"""SQLAlchemy models of the AppView schema (DIRECTION §3), grouped by domain."""
