"""PyTorch modules of the CTR model: the text tower and the ranking head (no training logic)."""
