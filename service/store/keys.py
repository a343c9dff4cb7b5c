"""Redis key layout, the same for one Redis and for a Redis Cluster. Vectors carry the model
version in their key, so two models (before and after a reload) never read each other's
vectors; raw behaviour and raw ad text are model-independent and let a new model rebuild its
vectors.

    {prefix}user:{version}:{{user_id}}  user behaviour matrix (codec.UserMatrix)
    {prefix}hist:{{user_id}}            raw recent behaviour (JSON list, newest first)
    {prefix}ad:{version}:{ad_id}        ad vector (codec.AdVector)
    {prefix}adraw:{ad_id}               raw ad fields (JSON: title, description, category)
    {prefix}exp:{{name}}:…              an experiment's meta, request records and counts
                                        (docs/experiments.md, "Redis layout")

e.g. ``adrank:user:v1:{u42}``, ``adrank:hist:{u42}``, ``adrank:ad:v1:ad-7``.

One user, one hash slot: the user id sits in a hash tag (``{…}``), so a user's matrix and
raw history share a slot — the atomic update of /events reads and writes both in one
script, which Redis Cluster allows only within one slot — and a warm /rank touches one slot.
Ads keep natural per-key hashing, so a catalog spreads over the nodes (one slot for all ads
would be a hot spot).

Redis hashes the text between the first ``{`` and the next ``}``. So that this is exactly
the user id, the prefix may not contain braces, and in every id and version written into a
key ``%``, ``{`` and ``}`` are percent-escaped (``%25``, ``%7B``, ``%7D``): ids without them
appear as they are, and two different ids never share a key. Ad ids are escaped too, so a
brace in an ad id cannot make an accidental hash tag.
"""

from dataclasses import dataclass


def escape(text: str) -> str:
    """``text`` with ``%``, ``{``, ``}`` percent-escaped (unchanged when it has none)."""
    if "{" in text or "}" in text or "%" in text:
        return text.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")
    return text


def user_tag(user_id: str) -> str:
    """The hash tag that puts all of one user's keys in one slot."""
    if not user_id:
        raise ValueError("a user id may not be empty (its hash tag would be empty)")
    return "{" + escape(user_id) + "}"


@dataclass(frozen=True)
class KeyLayout:
    prefix: str = "adrank:"

    def __post_init__(self) -> None:
        if "{" in self.prefix or "}" in self.prefix:
            raise ValueError("the key prefix may not contain { or } (they make hash tags)")

    def user(self, version: str, user_id: str) -> str:
        return f"{self.prefix}user:{escape(version)}:{user_tag(user_id)}"

    def history(self, user_id: str) -> str:
        return f"{self.prefix}hist:{user_tag(user_id)}"

    def ad(self, version: str, ad_id: str) -> str:
        return f"{self.prefix}ad:{escape(version)}:{escape(ad_id)}"

    def ad_raw(self, ad_id: str) -> str:
        return f"{self.prefix}adraw:{escape(ad_id)}"

    def experiment(self, name: str) -> str:
        """``P exp:{E}``: every key of one experiment starts so (one slot, like a user)."""
        return f"{self.prefix}exp:{{{name}}}"  # names match NAME_PATTERN: nothing to escape

    def exp_meta(self, name: str) -> str:
        return f"{self.experiment(name)}:meta"

    def exp_request(self, name: str, request_id: str) -> str:
        return f"{self.experiment(name)}:req:{escape(request_id)}"

    def exp_users(self, name: str, arm: str) -> str:
        return f"{self.experiment(name)}:arm:{arm}:users"

    def exp_series(self, name: str, arm: str) -> str:
        return f"{self.experiment(name)}:arm:{arm}:series"
