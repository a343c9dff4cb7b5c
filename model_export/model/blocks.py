"""Small reusable layers."""

from collections.abc import Sequence

from torch import Tensor, nn


def unit_rows(x: Tensor) -> Tensor:
    """``x`` in float64, scaled to unit length along the last axis (zero vectors stay zero).

    Cosines are computed in float64: a sharp gate multiplies them by ~20, which would turn
    float32 rounding (different summation orders in PyTorch and onnxruntime) into pCTR
    differences above the export's 1e-5 tolerance, and an argmax over them (topic clusters)
    could pick another centroid for a text almost equidistant from two."""
    x = x.double()
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-6)


class MLP(nn.Module):
    """Linear → ReLU → Dropout per hidden layer, then a linear output layer."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(in_dim, width), nn.ReLU(), nn.Dropout(dropout)]
            in_dim = width
        layers.append(nn.Linear(in_dim, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
