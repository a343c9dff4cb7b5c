"""The arms being served: one immutable snapshot (:class:`ArmSet`) of the experiment, its
arms with their loaded models, the user table and the shadow. A request takes the snapshot
once; ``PUT /admin/arms`` and ``/admin/reload`` build a new one and swap it in whole."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from service.experiments.assign import ArmTable
from service.experiments.config import ExperimentSettings
from service.runtime.model import LoadedModel


@dataclass(frozen=True)
class Arm:
    name: str
    weight: float
    models: tuple[LoadedModel, ...]  # one, or the parts of a blend
    part_weights: tuple[float, ...]  # the blend's logit weights ((1.0,) for one bundle)
    version: str = field(init=False)  # the parts' versions joined by +
    has_cvr: bool = field(init=False)  # every part predicts conversions

    def __post_init__(self) -> None:  # read on every request: computed once
        object.__setattr__(self, "version", "+".join(m.version for m in self.models))
        object.__setattr__(self, "has_cvr", all(m.has_cvr for m in self.models))

    @contextmanager
    def use(self) -> Iterator["Arm"]:
        """Keep the arm's models alive (see ModelHolder) for the ``with`` block."""
        for m in self.models:
            m.users += 1
        try:
            yield self
        finally:
            for m in self.models:
                m.users -= 1


@dataclass(frozen=True)
class ArmSet:
    config: ExperimentSettings
    arms: tuple[Arm, ...]
    table: ArmTable
    control: Arm
    shadow: LoadedModel | None
    models: dict[Path, LoadedModel]  # every bundle loaded, by resolved path (arms, shadow)

    def arm_of(self, user_id: str) -> Arm:
        return self.arms[self.table.arm_of(user_id)] if len(self.arms) > 1 else self.arms[0]

    def by_name(self, name: str) -> Arm | None:
        return next((a for a in self.arms if a.name == name), None)

    @property
    def serving(self) -> list[LoadedModel]:
        """The distinct models the arms score with (not the shadow)."""
        seen: dict[int, LoadedModel] = {}
        for arm in self.arms:
            for m in arm.models:
                seen.setdefault(id(m), m)
        return list(seen.values())


def build_arm_set(
    config: ExperimentSettings, default_path: Path, models: dict[Path, LoadedModel]
) -> ArmSet:
    """The snapshot of ``config`` over ``models`` (every path it names is loaded)."""
    arms = tuple(
        Arm(a.name, a.weight, tuple(models[p.resolve()] for p in a.paths(default_path)),
            tuple(a.part_weights()))
        for a in config.effective_arms()
    )  # fmt: skip
    control = next(a for a in arms if a.name == config.control_arm())
    shadow = models[config.shadow.bundle_path.resolve()] if config.shadow is not None else None
    return ArmSet(config, arms, ArmTable([a.weight for a in arms], config.salt), control,
                  shadow, models)  # fmt: skip


def bundle_paths(config: ExperimentSettings, default_path: Path) -> list[Path]:
    """Every bundle ``config`` needs, each once (resolved), in order of appearance."""
    paths = [p for a in config.effective_arms() for p in a.paths(default_path)]
    if config.shadow is not None:
        paths.append(config.shadow.bundle_path)
    return list(dict.fromkeys(p.resolve() for p in paths))
