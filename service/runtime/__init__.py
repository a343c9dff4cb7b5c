"""Model runtime: onnxruntime sessions (providers.py), the text encoder and the ranker (sync,
usable outside the service), and the asyncio micro-batchers that feed them from one thread each.
"""
