"""Export: ONNX graphs, parity against PyTorch, int8 encoder, the bundle and its manifest."""
