"""``manifest.json`` of a model bundle: the contract between export and serving.

A bundle directory holds the ONNX graphs, the tokenizer, the ad prior table and this manifest.
The service trusts nothing in the directory that the manifest does not describe and checksum.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dims(_Strict):
    d: int = Field(gt=0, description="vector size of ads and behaviour items")
    history_len: int = Field(gt=0, description="H: behaviour items kept per user")
    max_tokens: int = Field(gt=2, description="tokens per text, special tokens included")
    id_buckets: int = Field(gt=1, description="hash buckets of the ad-id embedding")


class Featurisation(_Strict):
    ad_text: str = Field(description="how ad fields become text (service.features.text.ad_text)")
    length_buckets: list[int] = Field(description="padded token lengths the encoder runs at")
    context_fields: list[str]
    prior_alpha: float = Field(gt=0, description="smoothing strength of the ad's CTR prior")
    global_ctr: float = Field(gt=0, lt=1)
    global_cvr: float | None = Field(
        default=None, gt=0, lt=1,
        description="conversions per click in training; pCVR of ads the model cannot score "
        "(bundles with a conversion tower only)",
    )  # fmt: skip


class GraphSpec(_Strict):
    file: str
    inputs: list[str]
    outputs: list[str]


class Graphs(_Strict):
    encoder: GraphSpec
    ranker: GraphSpec
    encoder_int8: GraphSpec | None = None


class Manifest(_Strict):
    format_version: int = FORMAT_VERSION
    version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    created_at: datetime
    dims: Dims
    featurisation: Featurisation
    context_vocab: dict[str, list[str]]
    graphs: Graphs
    tokenizer_file: str
    ad_priors_file: str
    data: dict[str, Any] = Field(default_factory=dict, description="training data summary")
    metrics: dict[str, Any] = Field(default_factory=dict, description="evaluation results")
    files: dict[str, str] = Field(description="sha256 of every other file in the bundle")
