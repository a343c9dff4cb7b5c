"""Server plumbing: request reading, the direct /rank route, timing, logs, graceful drain."""
