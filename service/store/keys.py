"""Redis key layout. Vectors carry the model version in their key, so two models (before and
after a reload) never read each other's vectors; raw behaviour and raw ad text are
model-independent and let a new model rebuild its vectors.

    {prefix}user:{version}:{user_id}  user behaviour matrix (codec.UserMatrix)
    {prefix}hist:{user_id}            raw recent behaviour (JSON list, newest first)
    {prefix}ad:{version}:{ad_id}      ad vector (codec.AdVector)
    {prefix}adraw:{ad_id}             raw ad fields (JSON: title, description, category)
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyLayout:
    prefix: str = "adrank:"

    def user(self, version: str, user_id: str) -> str:
        return f"{self.prefix}user:{version}:{user_id}"

    def history(self, user_id: str) -> str:
        return f"{self.prefix}hist:{user_id}"

    def ad(self, version: str, ad_id: str) -> str:
        return f"{self.prefix}ad:{version}:{ad_id}"

    def ad_raw(self, ad_id: str) -> str:
        return f"{self.prefix}adraw:{ad_id}"
