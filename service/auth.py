"""API keys: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``, compared in constant time.

No keys configured → the routes are open. The admin routes take only admin keys; while keys
are configured but no admin key is, the admin routes are closed.
"""

import hmac

from fastapi import Request
from pydantic import SecretStr

from service.errors import Forbidden, Unauthorized
from service.settings import AuthSettings


def presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def matches(key: str, keys: list[SecretStr]) -> bool:
    """Constant time in the key's content: every configured key is compared."""
    given = key.encode()
    found = False
    for candidate in keys:
        found |= hmac.compare_digest(given, candidate.get_secret_value().encode())
    return found


def authorize(request: Request, auth: AuthSettings, admin: bool = False) -> None:
    if not auth.enabled:
        return
    keys = auth.admin_api_keys if admin else [*auth.api_keys, *auth.admin_api_keys]
    key = presented_key(request)
    if key is None:
        raise Unauthorized("an API key is required (X-API-Key or Authorization: Bearer)")
    if not keys or not matches(key, keys):
        raise Forbidden("this API key is not valid for this route")
