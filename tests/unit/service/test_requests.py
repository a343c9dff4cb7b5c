"""Decoding a request body: validation messages name the field."""

import pytest

from service.errors import InvalidRequest
from service.rank.protocol import DECODER
from service.server.requests import decode


def test_validation_messages_name_the_field() -> None:
    with pytest.raises(InvalidRequest, match=r"^candidates\.0\.ad_id: required field is missing$"):
        decode(DECODER, b'{"user_id": "u", "candidates": [{"bid": 1}]}')
    with pytest.raises(InvalidRequest, match=r"^candidates\.0\.bid: Expected `float` >= 0"):
        decode(DECODER, b'{"user_id": "u", "candidates": [{"ad_id": "a", "bid": -1}]}')
    with pytest.raises(InvalidRequest, match=r"^body: not valid JSON"):
        decode(DECODER, b"{not json")
    with pytest.raises(InvalidRequest, match=r"^body: Expected `object`"):
        decode(DECODER, b"[]")
