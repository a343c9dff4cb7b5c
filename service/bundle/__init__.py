"""The model bundle: what `adrank export` writes and the service loads (see manifest.py)."""
