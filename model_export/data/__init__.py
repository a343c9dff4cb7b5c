"""Click logs: the documented input format, readers, converters and the synthetic generator."""
