"""Benchmarks: start the gateway, drive it from separate processes, record docs/benchmarks.md."""
