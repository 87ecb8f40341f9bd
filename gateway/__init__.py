"""Interview Gateway: the realtime core (protocol, hub, sessions, scheduling), free of I/O frameworks."""
