"""The prediction store: the service's durable log (spool, drainer, tables) on SQLite or PostgreSQL."""
