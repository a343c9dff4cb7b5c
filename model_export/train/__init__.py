"""Training: features from click logs, the frozen-encoder cache, the training loop."""
