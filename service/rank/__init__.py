"""POST /rank: protocol.py (wire models), features.py + ranking.py (pure), serving.py (logic),
api_router.py (the thin route)."""
