"""The job state machine every long-running task shares (DESIGN §5)."""
