"""GET /healthz, /readyz, /metrics."""
