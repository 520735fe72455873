"""Runtime: Session, state, executors and backends."""
