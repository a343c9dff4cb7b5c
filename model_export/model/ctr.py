"""The whole CTR model in training: text vectors (projected BERT features) + the ranking head.

Each training row is one impression, so every row is its own "user" (``user_index = arange``);
serving batches several candidates per user through the same head.
"""

from torch import Tensor, nn

from model_export.model.encoder import PooledBert
from model_export.model.ranker import HeadOutput, Keys, RankingHead


class CTRModel(nn.Module):
    """Projection of pooled text features to d, and the head.

    In fast mode ``pooled`` is None and the caller passes pooled features from the frozen
    cache; in fine-tune mode the BERT inside ``pooled`` is trained too.
    """

    def __init__(self, width: int, head: RankingHead, d: int, pooled: PooledBert | None = None):
        super().__init__()
        self.projection = nn.Linear(width, d)
        self.head = head
        self.pooled = pooled

    def text_vectors(self, pooled: Tensor) -> Tensor:
        return self.projection(pooled)

    def forward(
        self,
        vectors: Tensor,
        ad_index: Tensor,
        history_index: Tensor,
        context: Tensor,
        bucket: Tensor,
        prior: Tensor,
        price: Tensor,
    ) -> HeadOutput:
        """``vectors``: (T, d) text vectors; ``ad_index`` (B,) and ``history_index`` (B, H)
        point into them (-1 = padding). Returns the head's output for the B rows."""
        keys, history, mask = self._history(vectors, history_index)
        return self.head.score(keys, history, mask, context, vectors[ad_index], None, bucket,
                               prior, price)  # fmt: skip

    def gate_weights(self, vectors: Tensor, ad_index: Tensor, history_index: Tensor) -> Tensor:
        """Each gate's weights over the row's history (B, heads, H) (for analysis)."""
        keys, history, mask = self._history(vectors, history_index)
        return self.head.attend(keys, history, mask, vectors[ad_index], None)

    def _history(self, vectors: Tensor, history_index: Tensor) -> tuple[Keys, Tensor, Tensor]:
        """Keys, vectors (B, H, d) and mask (B, H) of each row's history."""
        mask = (history_index >= 0).to(vectors.dtype)
        safe = history_index.clamp(min=0)
        history = vectors[safe] * mask.unsqueeze(-1)
        learned, unit, clusters = self.head.item_keys(vectors)  # per unique text, gathered
        return (learned[safe], unit[safe], clusters[safe]), history, mask
