"""Benchmarks of the chat backend against a bare relay, run by ``python -m benchmarks.run`` (docs/performance.md)."""
