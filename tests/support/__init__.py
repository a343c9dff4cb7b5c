"""Helpers for the service's integration and end-to-end tests: real processes, no mocks."""
