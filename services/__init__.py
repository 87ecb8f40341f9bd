"""Use cases: what the gateway does, between the edge (handlers) and storage."""
