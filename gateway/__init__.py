"""Interview Gateway: the realtime core (protocol, hub, auth, settings), free of I/O frameworks."""
