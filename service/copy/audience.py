"""Ad copy ranked by the click model: an audience of users and the pCTR of each text for each.

``Audience``: the users a copy is scored for — their behaviour matrices (as Redis holds them,
``store/codec.py``) and their context ids. ``audience_from_redis`` builds one from Redis: a
seeded sample of the users that have a matrix of the bundle's version (found by SCAN), or given
user ids (those without a readable matrix are skipped and counted); every user shares one
context, encoded as ``/rank`` encodes a request's (``NEUTRAL_CONTEXT`` by default: no field
known, every id the unknown id 0).

``VariantScorer.score(texts, audience)``: the texts (the original first) are encoded once by the
bundle's encoder, rounded through fp16 as stored vectors are, and every (text, user) pair is
scored by the ranker in calls of at most ``max_pairs`` pairs, laid out as ``/rank`` lays out
requests (``runtime/pairs.py``: a block per user). Each text is scored as ``/rank`` scores an
ad it has never seen that came with text: id bucket 0 and the unknown ad's prior — so the
texts differ only by what they say.

``summarise(p)``: per text its mean pCTR, the uplift over the original (a ratio of means), the
spread of the per-user uplift and the share of users for whom it beats the original. Pure.

No torch and nothing from ``model_export``: numpy, onnxruntime and a sync Redis client.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.bundle.loader import Bundle
from service.features.price import price_features
from service.features.prior import UNKNOWN_BUCKET, unknown_prior
from service.rank.candidates import user_history
from service.runtime.encoder import TextEncoder
from service.runtime.model import LoadedModel
from service.runtime.pairs import PairBlock, plan_calls, split_pairs
from service.runtime.ranker import Ranker
from service.store.codec import UserMatrix, read_user
from service.store.keys import KeyLayout

NEUTRAL_CONTEXT: Mapping[str, object] = {}
DEFAULT_MAX_PAIRS = 400  # the service's batch.call_max_pairs: pairs per onnxruntime call on CPU
SCAN_COUNT = 1000
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


@dataclass(frozen=True)
class Audience:
    """U users: ``history`` (U, H, d) float32 newest first, ``mask`` (U, H) float32,
    ``context`` (U, C) int64; ``skipped``: users asked for that had no readable matrix."""

    user_ids: tuple[str, ...]
    history: np.ndarray
    mask: np.ndarray
    context: np.ndarray
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.user_ids)

    @classmethod
    def build(
        cls,
        user_ids: Sequence[str],
        matrices: Sequence[UserMatrix | None],
        context: np.ndarray,
        bundle: Bundle,
        skipped: int = 0,
    ) -> "Audience":
        """From each user's matrix (None = no behaviour: an all-zero mask, as /rank treats a
        cold user) and one context (C,) for all or one per user (U, C)."""
        if len(matrices) != len(user_ids):
            raise ValueError(f"{len(user_ids)} users but {len(matrices)} matrices")
        h, d = bundle.manifest.dims.history_len, bundle.manifest.dims.d
        history = np.zeros((len(user_ids), h, d), np.float32)
        mask = np.zeros((len(user_ids), h), np.float32)
        for u, matrix in enumerate(matrices):
            history[u], mask[u] = user_history(matrix, h, d)
        shape = (len(user_ids), len(bundle.context.fields))
        contexts = np.broadcast_to(np.asarray(context, np.int64), shape).copy()
        return cls(tuple(user_ids), history, mask, contexts, skipped)


# ---------------------------------------------------------------- users from Redis


def user_key_pattern(layout: KeyLayout, version: str) -> str:
    """The SCAN ``MATCH`` pattern of every user matrix of a version (glob characters of the
    prefix escaped)."""
    head = _GLOB_SPECIAL.sub(r"\\\1", layout.user(version, "x")[: -len("x}")])
    return head + "*}"


def unescape(text: str) -> str:
    """The inverse of ``keys.escape``."""
    return text.replace("%7B", "{").replace("%7D", "}").replace("%25", "%")


def user_id_of_key(layout: KeyLayout, version: str, key: str | bytes) -> str | None:
    """The user id a user-matrix key names, or None for a key of another layout or version."""
    text = key.decode() if isinstance(key, bytes) else key
    head = layout.user(version, "x")[: -len("x}")]
    if not (text.startswith(head) and text.endswith("}")) or len(text) == len(head) + 1:
        return None
    return unescape(text[len(head) : -1])


def scan_user_ids(client: Any, layout: KeyLayout, version: str) -> list[str]:
    """Every user with a matrix of ``version``, sorted (SCAN: no blocking KEYS)."""
    found = set()
    for key in client.scan_iter(match=user_key_pattern(layout, version), count=SCAN_COUNT):
        user_id = user_id_of_key(layout, version, key)
        if user_id is not None:
            found.add(user_id)
    return sorted(found)


def sample_ids(ids: Sequence[str], n: int, seed: int) -> list[str]:
    """A seeded sample of ``n`` ids without replacement (all when there are fewer), in the
    order of ``ids``: the same ids and seed give the same sample."""
    if n >= len(ids):
        return list(ids)
    chosen = np.random.default_rng(seed).choice(len(ids), size=n, replace=False)
    return [ids[i] for i in np.sort(chosen)]


def read_matrices(
    client: Any, layout: KeyLayout, bundle: Bundle, user_ids: Sequence[str]
) -> list[UserMatrix | None]:
    """Each user's matrix (None where absent or unreadable by this bundle), one pipelined GET
    per user (a Redis Cluster groups them by node)."""
    pipe = client.pipeline(transaction=False)
    for user_id in user_ids:
        pipe.get(layout.user(bundle.version, user_id))
    d = bundle.manifest.dims.d
    return [read_user(blob, bundle.version, d) for blob in pipe.execute()]


def audience_from_redis(
    client: Any,
    bundle: Bundle,
    *,
    sample: int | None = None,
    user_ids: Sequence[str] | None = None,
    seed: int = 0,
    context: Mapping[str, object] = NEUTRAL_CONTEXT,
    ts: float | None = None,
    layout: KeyLayout | None = None,
) -> Audience:
    """``sample`` users (a seeded sample of the version's users) or the given ``user_ids``
    (those without a matrix skipped and counted); one ``context`` for all, with hour and
    weekday from ``ts`` when given (as /rank does with the request's time)."""
    if (sample is None) == (user_ids is None):
        raise ValueError("give sample or user_ids, not both")
    layout = layout or KeyLayout()
    if user_ids is None:
        user_ids = sample_ids(scan_user_ids(client, layout, bundle.version), sample or 0, seed)
    user_ids = list(dict.fromkeys(user_ids))
    matrices = read_matrices(client, layout, bundle, user_ids) if user_ids else []
    found = [(u, m) for u, m in zip(user_ids, matrices, strict=True) if m is not None]
    context_ids = bundle.context.encode(context, ts=ts)
    return Audience.build([u for u, _ in found], [m for _, m in found], context_ids, bundle,
                          skipped=len(user_ids) - len(found))  # fmt: skip


# ---------------------------------------------------------------- scoring


class VariantScorer:
    """pCTR of ad texts for an audience, with a bundle's encoder and ranker."""

    def __init__(
        self, encoder: TextEncoder, ranker: Ranker, bundle: Bundle,
        max_pairs: int = DEFAULT_MAX_PAIRS,
    ) -> None:  # fmt: skip
        self.encoder = encoder
        self.ranker = ranker
        self.bundle = bundle
        self.max_pairs = max_pairs
        feat = bundle.manifest.featurisation
        self.cold_prior = unknown_prior(feat.global_ctr, feat.prior_alpha).astype(np.float32)

    @classmethod
    def from_model(cls, model: LoadedModel, max_pairs: int = DEFAULT_MAX_PAIRS) -> "VariantScorer":
        return cls(model.encoder, model.ranker, model.bundle, max_pairs)

    @classmethod
    def from_bundle(
        cls, bundle: Bundle, threads: int = 1, max_pairs: int = DEFAULT_MAX_PAIRS,
        providers: Sequence[str] = ("auto",),
    ) -> "VariantScorer":  # fmt: skip
        """Sessions of the bundle's graphs (``threads`` intra-op threads each)."""
        encoder = TextEncoder.from_bundle(bundle, providers, threads)
        return cls(encoder, Ranker.from_bundle(bundle, providers, threads), bundle, max_pairs)

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """(V, d) float32: the encoder's vectors rounded through fp16, as /rank's are."""
        return self.encoder.encode(list(texts)).astype(np.float16).astype(np.float32)

    def score(self, texts: Sequence[str], audience: Audience) -> np.ndarray:
        """(V, U) pCTR of each text (encoder inputs, e.g. ``features.text.ad_text``) for each
        user of the audience."""
        return self.score_vectors(self.vectors(texts), audience)

    def score_vectors(self, vectors: np.ndarray, audience: Audience) -> np.ndarray:
        """(V, U) pCTR of texts already encoded (``vectors``) for each user."""
        n = len(vectors)
        if not len(audience) or not n:
            return np.zeros((n, len(audience)), np.float32)
        buckets = np.full(n, UNKNOWN_BUCKET, np.int64)
        priors = np.tile(self.cold_prior, (n, 1))
        prices = price_features(np.full(n, np.nan))  # pCTR does not read the price
        offsets = np.zeros(n, np.float32)  # a variant is a new text: no ad's history
        blocks = [PairBlock(audience.history[u], audience.mask[u], audience.context[u],
                            vectors, buckets, priors, prices, offsets)
                  for u in range(len(audience))]  # fmt: skip
        per_user = []
        for call in plan_calls(blocks, self.max_pairs):
            per_user += [
                out.p_ctr for out in split_pairs(self.ranker.run(call.inputs), call.counts)
            ]
        return np.stack(per_user, axis=1)


# ---------------------------------------------------------------- the summary


@dataclass(frozen=True)
class TextScore:
    """One text's scores over an audience. ``uplift``: mean pCTR over the original's, minus 1;
    ``uplift_std``/``p10``/``p90``: the spread over users of each user's pCTR ratio minus 1;
    ``share_better``: the share of users whose pCTR of this text exceeds the original's."""

    mean_pctr: float
    uplift: float
    uplift_std: float
    uplift_p10: float
    uplift_p90: float
    share_better: float


def summarise(p: np.ndarray) -> list[TextScore]:
    """One ``TextScore`` per row of ``p`` (V, U): row 0 is the original (its uplift is 0)."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or not p.shape[0] or not p.shape[1]:
        raise ValueError(f"p must be (texts, users) with both > 0, got shape {p.shape}")
    mean = p.mean(axis=1)
    per_user = p / p[0] - 1.0
    p10, p90 = np.percentile(per_user, [10, 90], axis=1)
    better = (p > p[0]).mean(axis=1)
    return [TextScore(float(mean[v]), float(mean[v] / mean[0] - 1.0), float(per_user[v].std()),
                      float(p10[v]), float(p90[v]), float(better[v]))
            for v in range(len(p))]  # fmt: skip
