"""Wire shapes of ``POST /admin/reload``."""

from typing import Annotated

import msgspec
from msgspec import Meta, Struct


class ReloadRequest(Struct):
    bundle_path: Annotated[str, Meta(description="bundle directory; none = the configured "
                                     "one")] | None = None  # fmt: skip


class ReloadResponse(Struct):
    model_version: str
    previous_version: str | None
    load_s: float
    providers: dict[str, list[str]]


DECODER = msgspec.json.Decoder(ReloadRequest)
