"""API keys: comparison, and short keys refused by the settings."""

import pytest
from pydantic import SecretStr, ValidationError

from service.auth import matches
from service.settings import AuthSettings


def test_api_key_comparison() -> None:
    keys = [SecretStr("a" * 16), SecretStr("b" * 16)]
    assert matches("b" * 16, keys)
    assert not matches("c" * 16, keys) and not matches("", keys)


def test_short_api_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        AuthSettings(api_keys=[SecretStr("short")])
