"""Redis layout and the binary values stored there (codec.py is pure; I/O lives beside it)."""
