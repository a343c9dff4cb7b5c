"""An experiment's meta hash (``P exp:{E}:meta``) read into types. Pure."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ArmMeta:
    """One configured arm: its name, its weight (share of users relative to the others) and
    the bundle versions it serves."""

    name: str
    weight: float
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExperimentMeta:
    """What the service wrote about the experiment; None where a field is absent (an empty
    meta hash gives no arms and every field None)."""

    arms: tuple[ArmMeta, ...] = ()
    salt: str | None = None
    control: str | None = None
    bucket_s: int | None = None
    started: float | None = None
    extra: dict[str, str] = field(default_factory=dict)  # fields the contract does not name

    @property
    def weights(self) -> dict[str, float]:
        """Arm name → configured weight, in the configured order."""
        return {arm.name: arm.weight for arm in self.arms}


KNOWN_FIELDS = frozenset({"arms", "salt", "control", "bucket_s", "started"})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _arm(item: object) -> ArmMeta:
    if isinstance(item, str):  # tolerate a bare list of names
        return ArmMeta(item, 1.0)
    if not isinstance(item, Mapping) or "name" not in item:
        raise ValueError(f"meta arms: expected {{name, weight, versions}}, got {item!r}")
    versions = item.get("versions") or ()
    if isinstance(versions, str):
        versions = (versions,)
    return ArmMeta(str(item["name"]), float(item.get("weight", 1.0)), tuple(map(str, versions)))


def parse_arms(text: str) -> tuple[ArmMeta, ...]:
    """The ``arms`` field: a JSON list of ``{name, weight, versions}``."""
    items = json.loads(text)
    if not isinstance(items, list):
        raise ValueError(f"meta arms: expected a JSON list, got {text[:80]!r}")
    return tuple(_arm(item) for item in items)


def _number(text: str | None, kind: type[int] | type[float]) -> int | float | None:
    if text is None or text == "":
        return None
    try:
        return kind(float(text))
    except ValueError:
        return None


def parse_meta(raw: Mapping[bytes | str, bytes | str]) -> ExperimentMeta:
    """The meta hash as Redis answers it (bytes or str keys and values)."""
    meta = {_text(k): _text(v) for k, v in raw.items()}
    bucket_s = _number(meta.get("bucket_s"), int)
    started = _number(meta.get("started"), float)
    return ExperimentMeta(
        arms=parse_arms(meta["arms"]) if meta.get("arms") else (),
        salt=meta.get("salt"),
        control=meta.get("control") or None,
        bucket_s=int(bucket_s) if bucket_s is not None else None,
        started=float(started) if started is not None else None,
        extra={k: v for k, v in meta.items() if k not in KNOWN_FIELDS},
    )
