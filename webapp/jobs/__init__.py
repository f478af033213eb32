"""Jobs: the state machine, the heartbeat reporter and the sweep every long task shares."""
