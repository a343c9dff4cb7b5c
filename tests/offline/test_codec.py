"""Binary Redis values: round trips and refusals."""

import numpy as np
import pytest

from service.store.codec import (
    BehaviourItem,
    CodecError,
    UserMatrix,
    decode_ad,
    decode_history,
    decode_user,
    encode_ad,
    encode_history,
    encode_user,
)


def test_user_matrix_round_trip_and_version_check() -> None:
    vectors = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float16)
    blob = encode_user(UserMatrix(vectors, ("i1", "i2", "i3")), "v1")
    got = decode_user(blob, "v1", 8)
    assert np.array_equal(got.vectors, vectors) and got.item_ids == ("i1", "i2", "i3")
    with pytest.raises(CodecError, match="another model version"):
        decode_user(blob, "v2", 8)
    with pytest.raises(CodecError, match="d=8"):
        decode_user(blob, "v1", 16)
    with pytest.raises(CodecError, match=r"truncated|header"):
        decode_user(blob[:30], "v1", 8)
    empty = encode_user(UserMatrix(np.zeros((0, 8), np.float16), ()), "v1")
    assert decode_user(empty, "v1", 8).vectors.shape == (0, 8)


def test_ad_vector_round_trip_and_refusals() -> None:
    vec = np.arange(4, dtype=np.float16)
    priced = decode_ad(encode_ad(vec, "v1", 89.9), "v1", 4)
    assert np.array_equal(priced.vector, vec) and priced.price == pytest.approx(89.9)
    assert np.isnan(decode_ad(encode_ad(vec, "v1"), "v1", 4).price)
    # without a price: the format builds before prices wrote and read, header then vector
    assert encode_ad(vec, "v1")[4] == 1 and len(encode_ad(vec, "v1")) == 12 + 4 * 2
    assert encode_ad(vec, "v1", 89.9)[4] == 2
    with pytest.raises(CodecError, match="wrong length"):
        decode_ad(encode_ad(vec, "v1", 1.0)[:-2], "v1", 4)
    with pytest.raises(CodecError):
        decode_ad(b"xx", "v1", 4)
    with pytest.raises(CodecError, match="not an ad vector"):
        decode_ad(encode_user(UserMatrix(np.zeros((1, 4), np.float16), ("a",)), "v1"), "v1", 4)


def test_raw_history_round_trip() -> None:
    items = [BehaviourItem("i1", "Yoga mats, ranked", "click", 10.0)]
    assert decode_history(encode_history(items)) == items
    with pytest.raises(CodecError):
        decode_history(b"{not json")
