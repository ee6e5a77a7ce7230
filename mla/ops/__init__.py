"""Running the instance: worker heartbeats and the dead-man page, readiness, metrics,
backup and restore, signed audit checkpoints, retention of personal data."""
