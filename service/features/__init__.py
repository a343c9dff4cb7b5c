"""Featurisation shared by training and serving: one implementation, used offline and online.

Everything here is pure (no I/O beyond reading a tokenizer file) and imports neither torch nor
transformers, so the serving image can use it and `model_export` can import it.
"""
