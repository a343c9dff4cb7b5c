"""Experiments offline: the report of arms from their counts in Redis, and the simulator that
drives a running service with the synthetic platform's traffic (docs/experiments.md)."""
