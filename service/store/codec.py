"""Binary values in Redis: a small header, fp16 vectors, and (for users) the item ids.

User matrix:  header ``<4sBBHHI`` = magic b"ADRU", format, dtype (1 = fp16), d, n rows,
              crc32 of the model version; then n × d fp16 (newest item first);
              then the n item ids, UTF-8, joined by "\\x1f".
Ad vector:    header ``<4sBBHI`` = magic b"ADRA", format, dtype, d, crc32 of the version;
              then d fp16; format 2 (an ad with a price) then its price, float32. An ad
              without a price is written in format 1, which builds before prices read too.
"""

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from service.features.text import AdText

FORMAT = 1
AD_FORMAT = 2  # the vector, then the price
DTYPE_FP16 = 1
_USER = struct.Struct("<4sBBHHI")
_AD = struct.Struct("<4sBBHI")
_ID_SEP = "\x1f"
_PRICE = np.dtype("<f4")
NO_PRICE = float("nan")


class CodecError(ValueError):
    """A stored value is not what this model can read (format, dims or model version)."""


def version_tag(version: str) -> int:
    return zlib.crc32(version.encode())


@dataclass(frozen=True)
class UserMatrix:
    vectors: np.ndarray  # (n, d) float16, newest first
    item_ids: tuple[str, ...]


def encode_user(matrix: UserMatrix, version: str) -> bytes:
    n, d = matrix.vectors.shape
    if n != len(matrix.item_ids):
        raise CodecError(f"{n} vectors but {len(matrix.item_ids)} item ids")
    header = _USER.pack(b"ADRU", FORMAT, DTYPE_FP16, d, n, version_tag(version))
    ids = _ID_SEP.join(matrix.item_ids).encode()
    return header + matrix.vectors.astype("<f2", copy=False).tobytes() + ids


def decode_user(blob: bytes, version: str, d: int) -> UserMatrix:
    _check(len(blob) >= _USER.size, "user matrix shorter than its header")
    magic, fmt, dtype, dim, n, tag = _USER.unpack_from(blob)
    _check(magic == b"ADRU" and fmt == FORMAT and dtype == DTYPE_FP16, "not a user matrix")
    _check(dim == d, f"user matrix has d={dim}, model wants {d}")
    _check(tag == version_tag(version), "user matrix belongs to another model version")
    end = _USER.size + n * d * 2
    _check(len(blob) >= end, "user matrix truncated")
    vectors = np.frombuffer(blob, dtype="<f2", count=n * d, offset=_USER.size).reshape(n, d)
    ids = tuple(blob[end:].decode().split(_ID_SEP)) if n else ()
    _check(len(ids) == n, "user matrix item ids do not match its rows")
    return UserMatrix(vectors, ids)


@dataclass(frozen=True)
class StoredAd:
    vector: np.ndarray  # (d,) float16 as stored; float32 from ``read_ads``
    price: float  # NaN where the ad has none


def encode_ad(vector: np.ndarray, version: str, price: float | None = None) -> bytes:
    fmt = FORMAT if price is None else AD_FORMAT
    header = _AD.pack(b"ADRA", fmt, DTYPE_FP16, vector.shape[0], version_tag(version))
    body = vector.astype("<f2", copy=False).tobytes()
    return header + body if price is None else header + body + np.array(price, _PRICE).tobytes()


def encode_ad_raw(text: AdText) -> bytes:
    """An ad's text and price as JSON, kept beside its vectors (to rebuild them for a new
    model)."""
    fields = {"title": text.title, "description": text.description, "category": text.category}
    return orjson.dumps(fields if text.price is None else fields | {"price": text.price})


def decode_ad(blob: bytes, version: str, d: int) -> StoredAd:
    _check(len(blob) >= _AD.size, "ad vector shorter than its header")
    magic, fmt, dtype, dim, tag = _AD.unpack_from(blob)
    _check(magic == b"ADRA" and fmt in (FORMAT, AD_FORMAT) and dtype == DTYPE_FP16,
           "not an ad vector")  # fmt: skip
    _check(dim == d, f"ad vector has d={dim}, model wants {d}")
    _check(tag == version_tag(version), "ad vector belongs to another model version")
    end = _AD.size + d * 2
    _check(len(blob) == end + (_PRICE.itemsize if fmt == AD_FORMAT else 0),
           "ad vector has the wrong length")  # fmt: skip
    vector = np.frombuffer(blob, dtype="<f2", count=d, offset=_AD.size)
    price = float(np.frombuffer(blob, _PRICE, 1, end)[0]) if fmt == AD_FORMAT else NO_PRICE
    return StoredAd(vector, price)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise CodecError(message)


@dataclass(frozen=True)
class BehaviourItem:
    """One raw behaviour event as kept under ``hist:{user_id}`` (model-independent)."""

    item_id: str
    text: str
    type: str
    ts: float


def encode_history(items: list[BehaviourItem]) -> bytes:
    """Raw behaviour, newest first, as JSON (readable in redis-cli; rebuilds any model's matrix)."""
    return orjson.dumps([[i.item_id, i.text, i.type, i.ts] for i in items])


def decode_history(blob: bytes) -> list[BehaviourItem]:
    try:
        return [
            BehaviourItem(str(a), str(b), str(c), float(d)) for a, b, c, d in orjson.loads(blob)
        ]
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise CodecError(f"raw behaviour history is not readable: {exc}") from exc


# Tolerant readers: what a request or an update can use of a stored value, never an error
# (a value another model wrote, of an older format, or damaged reads as absent).


def read_user(blob: bytes | None, version: str, d: int) -> UserMatrix | None:
    """The stored matrix, or None when absent or unreadable by this model."""
    if blob is None:
        return None
    try:
        return decode_user(blob, version, d)
    except CodecError:
        return None


def read_ads(blobs: Sequence[bytes | None], version: str, d: int) -> list[StoredAd | None]:
    """Ads with float32 vectors (None where absent or unreadable)."""
    out: list[StoredAd | None] = []
    for blob in blobs:
        try:
            ad = None if blob is None else decode_ad(blob, version, d)
        except CodecError:
            ad = None
        out.append(None if ad is None else StoredAd(ad.vector.astype(np.float32), ad.price))
    return out


def read_history(blob: bytes | None) -> list[BehaviourItem]:
    """The stored raw history, or an empty one when absent or unreadable."""
    if blob is None:
        return []
    try:
        return decode_history(blob)
    except CodecError:
        return []
