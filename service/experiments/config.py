"""The experiment's settings: arms (a bundle or a blend of bundles, each with a traffic
weight), the control arm, the salt of the user hash, an optional shadow bundle, and how
exposures are recorded. The same shape is the body of ``GET``/``PUT /admin/arms``."""

from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"  # safe inside a Redis key and a Prometheus label


class BlendPart(BaseModel):
    bundle_path: Path = Field(description="bundle directory")
    weight: float = Field(ge=-100, le=100, description="weight of this bundle's logit in the blend")


class ArmSettings(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="the arm's name (answers, metrics)")
    weight: float = Field(default=1.0, ge=0, le=1e6,
                          description="share of users, relative to the others")  # fmt: skip
    bundle_path: Path | None = Field(
        default=None,
        description="bundle directory; none (and no blend) = model.bundle_path; not with blend"
    )
    blend: list[BlendPart] = Field(
        default=[], description="rank by the weighted sum of these bundles' logits instead: "
        "two bundles or more, and no bundle_path"
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.blend and self.bundle_path is not None:
            raise ValueError(f"arm {self.name}: give bundle_path or blend, not both")
        if len(self.blend) == 1:
            raise ValueError(f"arm {self.name}: a blend needs at least two bundles")
        return self

    def paths(self, default: Path) -> list[Path]:
        """The bundles this arm scores with, in blend order."""
        if self.blend:
            return [p.bundle_path for p in self.blend]
        return [self.bundle_path or default]

    def part_weights(self) -> list[float]:
        return [p.weight for p in self.blend] if self.blend else [1.0]


class ShadowSettings(BaseModel):
    bundle_path: Path = Field(description="bundle that scores requests off the hot path")
    share: float = Field(default=1.0, ge=0, le=1, description="share of requests it scores")
    max_pending: int = Field(
        default=64, ge=1, description="shadow requests in flight before more are shed"
    )


class ExperimentSettings(BaseModel):
    name: str = Field(
        default="default", pattern=NAME_PATTERN,
        description="the experiment's id: its counts live under exp:{name}")  # fmt: skip
    salt: str = Field(
        default="adrank", min_length=1, max_length=128,
        description="mixed into the user hash; a new salt reshuffles users")  # fmt: skip
    arms: list[ArmSettings] = Field(
        default=[], description="empty = one arm, default, serving model.bundle_path; names "
        "unique, some weight above 0"
    )
    control: str | None = Field(
        default=None, description="the control arm (one of the arms); none = the first")
    shadow: ShadowSettings | None = None
    attribution_ttl_s: int = Field(
        default=86400, gt=0, description="how long a request id stays attributable to its arm"
    )
    series_bucket_s: int = Field(default=60, gt=0, description="width of per-arm time buckets")
    flush_ms: float = Field(
        default=50.0, gt=0, description="exposures are written to Redis in one pipeline this often"
    )

    @field_validator("arms")
    @classmethod
    def _arms_valid(cls, arms: list[ArmSettings]) -> list[ArmSettings]:
        names = [a.name for a in arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique: {names}")
        if arms and sum(a.weight for a in arms) <= 0:
            raise ValueError("at least one arm needs a weight above 0")
        return arms

    @model_validator(mode="after")
    def _control_is_an_arm(self) -> Self:
        if self.control is not None and self.control not in [a.name for a in self.effective_arms()]:
            raise ValueError(f"control {self.control!r} is not one of the arms")
        return self

    def effective_arms(self) -> list[ArmSettings]:
        """The configured arms, or the one default arm."""
        return self.arms or [ArmSettings(name="default")]

    def control_arm(self) -> str:
        return self.control or self.effective_arms()[0].name
