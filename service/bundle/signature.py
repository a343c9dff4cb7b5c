"""Input and output names of the two ONNX graphs (written into the manifest by export).

encoder.onnx
    input_ids       int64   (B, S)   token ids, right-padded with 0
    attention_mask  int64   (B, S)   1 for tokens, 0 for padding
    vector          float32 (B, d)   mean-pooled BERT output projected to d

ranker.onnx — flat pair layout: U users (requests), N candidate rows in all
    history         float32 (U, H, d)  behaviour item vectors, newest first, zero-padded
    history_mask    float32 (U, H)     1 for real items, 0 for padding (a row may be all 0)
    context         int64   (U, C)     context ids (service.features.context)
    candidates      float32 (N, d)     ad vectors
    user_index      int64   (N,)       row of ``history`` each candidate belongs to
    ad_bucket       int64   (N,)       hashed ad id, 0 for ads unknown to the model
    ad_prior        float32 (N, 2)     service.features.prior.prior_features
    ad_price        float32 (N, 2)     service.features.price.price_features (graphs exported
                                       before prices lack it; the service feeds what the
                                       graph takes)
    ad_offset       float32 (N,)       the ad's click logit offset, added to the head's click
                                       logit (model_export/train/ad_offsets.py; 0 for ads
                                       without one; graphs exported before lack it)
    p_ctr           float32 (N,)       predicted click probability
    attention       float32 (N, H)     weight of each history item in the candidate's score
    p_cvr           float32 (N,)       probability that a click converts (only in bundles
                                       with a conversion tower; the manifest lists it)
"""

ENCODER_INPUTS = ("input_ids", "attention_mask")
ENCODER_OUTPUTS = ("vector",)
RANKER_INPUTS = (
    "history",
    "history_mask",
    "context",
    "candidates",
    "user_index",
    "ad_bucket",
    "ad_prior",
    "ad_price",
    "ad_offset",
)
RANKER_OUTPUTS = ("p_ctr", "attention")
CVR_OUTPUT = "p_cvr"


def ranker_outputs(has_cvr: bool) -> tuple[str, ...]:
    """The ranker's outputs, with ``p_cvr`` where the head has a conversion tower."""
    return RANKER_OUTPUTS + (CVR_OUTPUT,) * has_cvr
