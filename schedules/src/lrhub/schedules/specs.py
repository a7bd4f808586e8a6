"""Schedule specs: pydantic models, one per ``type``, joined in a discriminated union."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .errors import ErrorDetail, ExpressionError, SpecError
from .expressions import compile_expression

MAX_NESTING = 8


def refuse_negative_zero(rate: float) -> float:
    """`rate`, unless it is -0.0: a rate is 0 or positive, and -0.0 would be answered as such."""
    if rate == 0 and math.copysign(1.0, rate) < 0:
        raise ValueError("must be 0 or positive, not -0.0")
    return rate


def _whole_as_int(value: float) -> float | int:
    """A whole number without its ".0" (`"every": 10`, as written), any other float as it is."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


# Numbers are floats inside the engine; in JSON a whole one reads as the integer it is. The
# answer's schema still says "number".
AsWritten = (
    PlainSerializer(_whole_as_int, return_type=float | int, when_used="json"),
    WithJsonSchema({"type": "number"}, mode="serialization"),
)
Rate = Annotated[
    float,
    Field(ge=0, allow_inf_nan=False, strict=True),
    AfterValidator(refuse_negative_zero),
    *AsWritten,
]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True), *AsWritten]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True), *AsWritten]
Fraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False, strict=True)]
Count = Annotated[int, Field(ge=0, strict=True)]
PositiveCount = Annotated[int, Field(gt=0, strict=True)]
UnitInterval = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True), *AsWritten]
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True), *AsWritten]
Unit = Literal["epoch", "step"]


class _SpecModel(BaseModel):
    # Answers carry every field, defaults filled: their schema says so (separate from the
    # request schema, where defaulted fields are optional).
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_serialization_defaults_required=True
    )

    unit: Unit = "epoch"
    """What t counts: epochs, or optimizer steps (global step = epoch * steps_per_epoch + batch)."""


class ConstantSpec(_SpecModel):
    """The same rate at every t."""

    type: Literal["constant"] = "constant"
    learning_rate: Rate


class ExponentialDecaySpec(_SpecModel):
    """Keras ExponentialDecay: initial * decay_rate^(t / decay_steps)."""

    type: Literal["exponential_decay"] = "exponential_decay"
    initial_learning_rate: Rate
    decay_steps: Positive
    decay_rate: Positive
    staircase: bool = False


class InverseTimeDecaySpec(_SpecModel):
    """Keras InverseTimeDecay: initial / (1 + decay_rate * t / decay_steps)."""

    type: Literal["inverse_time_decay"] = "inverse_time_decay"
    initial_learning_rate: Rate
    decay_steps: Positive
    decay_rate: NonNegative
    staircase: bool = False


class PiecewiseConstantDecaySpec(_SpecModel):
    """Keras PiecewiseConstantDecay: values[i] up to and including boundaries[i]."""

    type: Literal["piecewise_constant_decay"] = "piecewise_constant_decay"
    boundaries: tuple[Finite, ...] = Field(min_length=1)
    values: tuple[Rate, ...]

    @field_validator("boundaries")
    @classmethod
    def _strictly_increasing(cls, boundaries: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in itertools.pairwise(boundaries)):
            raise ValueError("boundaries must be strictly increasing")
        return boundaries

    @field_validator("values")
    @classmethod
    def _one_more_than_boundaries(
        cls, values: tuple[float, ...], info: ValidationInfo
    ) -> tuple[float, ...]:
        boundaries = info.data.get("boundaries")
        if boundaries is not None and len(values) != len(boundaries) + 1:
            raise ValueError(
                f"needs len(boundaries) + 1 = {len(boundaries) + 1} values, got {len(values)}"
            )
        return values


class PolynomialDecaySpec(_SpecModel):
    """Keras PolynomialDecay, with its ``cycle`` option."""

    type: Literal["polynomial_decay"] = "polynomial_decay"
    initial_learning_rate: Rate
    decay_steps: Positive
    end_learning_rate: Rate = 1e-4
    power: NonNegative = 1.0
    cycle: bool = False


class CosineDecaySpec(_SpecModel):
    """Keras CosineDecay, with its linear warm-up (``warmup_target``, ``warmup_steps``)."""

    type: Literal["cosine_decay"] = "cosine_decay"
    initial_learning_rate: Rate
    decay_steps: Positive
    alpha: UnitInterval = 0.0
    warmup_target: Rate | None = None
    warmup_steps: NonNegative = 0.0

    @field_validator("warmup_steps")
    @classmethod
    def _warmup_needs_target(cls, steps: float, info: ValidationInfo) -> float:
        if steps > 0 and info.data.get("warmup_target", 0.0) is None:
            raise ValueError("warmup_steps > 0 needs a warmup_target")
        return steps


class CosineDecayRestartsSpec(_SpecModel):
    """Keras CosineDecayRestarts (SGDR)."""

    type: Literal["cosine_decay_restarts"] = "cosine_decay_restarts"
    initial_learning_rate: Rate
    first_decay_steps: Positive
    t_mul: Positive = 2.0
    m_mul: NonNegative = 1.0
    alpha: UnitInterval = 0.0


class StepDecaySpec(_SpecModel):
    """initial * drop^floor((t + offset) / every) (the Ionosphere drop-based decay: offset=1)."""

    type: Literal["step_decay"] = "step_decay"
    initial_learning_rate: Rate
    drop: Positive
    every: Positive
    offset: NonNegative = 0.0


class MultiStepSpec(_SpecModel):
    """PyTorch MultiStepLR: initial * gamma^(number of milestones <= t), with multiplicity."""

    type: Literal["multi_step"] = "multi_step"
    initial_learning_rate: Rate
    milestones: tuple[Count, ...] = Field(min_length=1)
    gamma: Positive = 0.1

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, milestones: tuple[int, ...]) -> tuple[int, ...]:
        if any(b < a for a, b in itertools.pairwise(milestones)):
            raise ValueError("milestones must be increasing (repeats count twice)")
        return milestones


class LinearSpec(_SpecModel):
    """A straight line from start to end over ``duration``, then held (warm-up ramps)."""

    type: Literal["linear"] = "linear"
    start_learning_rate: Rate
    end_learning_rate: Rate
    duration: Positive


def _without_momentum_if_stored_before(data: Any, info: ValidationInfo) -> Any:
    """A stored spec (canonical JSON, every field written) without `cycle_momentum` was stored
    before momentum was scheduled: it keeps its meaning, the rate alone."""
    stored = isinstance(info.context, Mapping) and info.context.get("stored", False)
    if stored and isinstance(data, Mapping) and "cycle_momentum" not in data:
        return {**data, "cycle_momentum": False}
    return data


class CyclicSpec(_SpecModel):
    """PyTorch CyclicLR (triangular, triangular2, exp_range)."""

    type: Literal["cyclic"] = "cyclic"
    base_learning_rate: Rate
    max_learning_rate: Rate
    step_size_up: Positive
    step_size_down: Positive | None = None
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    gamma: Positive = 1.0
    cycle_momentum: bool = True
    """Cycle momentum (Adam's beta1) inversely to the rate, from max_momentum down to
    base_momentum, as PyTorch does by default."""
    base_momentum: UnitInterval = 0.8
    max_momentum: UnitInterval = 0.9

    @model_validator(mode="before")
    @classmethod
    def _stored_before_momentum(cls, data: Any, info: ValidationInfo) -> Any:
        return _without_momentum_if_stored_before(data, info)


class OneCycleSpec(_SpecModel):
    """PyTorch OneCycleLR; past total_steps the final rate is held (PyTorch raises)."""

    type: Literal["one_cycle"] = "one_cycle"
    max_learning_rate: Rate
    total_steps: PositiveCount
    three_phase: bool = False
    pct_start: Fraction = Field(default=0.3, validate_default=True)
    anneal_strategy: Literal["cos", "linear"] = "cos"
    div_factor: Positive = 25.0
    final_div_factor: Positive = 1e4
    cycle_momentum: bool = True
    """Cycle momentum (Adam's beta1) inversely to the rate between base_momentum and
    max_momentum, as PyTorch does by default."""
    base_momentum: UnitInterval = 0.85
    max_momentum: UnitInterval = 0.95

    @model_validator(mode="before")
    @classmethod
    def _stored_before_momentum(cls, data: Any, info: ValidationInfo) -> Any:
        return _without_momentum_if_stored_before(data, info)

    @field_validator("pct_start")
    @classmethod
    def _phases_have_length(cls, pct_start: float, info: ValidationInfo) -> float:
        total_steps = info.data.get("total_steps")
        if total_steps is None:
            return pct_start
        ends = one_cycle_phase_ends(pct_start, total_steps, info.data.get("three_phase", False))
        if any(b <= a for a, b in itertools.pairwise([0.0, *ends])):
            raise ValueError(
                f"every phase needs at least one step (pct_start={pct_start}, "
                f"total_steps={total_steps})"
            )
        return pct_start


def one_cycle_phase_ends(pct_start: float, total_steps: int, three_phase: bool) -> list[float]:
    """The step at which each phase ends, exactly as PyTorch computes them."""
    warm = float(pct_start * total_steps) - 1
    last = float(total_steps - 1)
    if three_phase:
        return [warm, float(2 * pct_start * total_steps) - 2, last]
    return [warm, last]


class RampHoldDecaySpec(_SpecModel):
    """The "one cycle" of Keras scheduling tutorials: linear ramp, hold at max, decay to min."""

    type: Literal["ramp_hold_decay"] = "ramp_hold_decay"
    start_learning_rate: Rate
    max_learning_rate: Rate
    min_learning_rate: Rate
    rampup: Count
    sustain: Count = 0
    exp_decay: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, strict=True), *AsWritten]


class Stage(BaseModel):
    """One part of a sequence; its schedule's t restarts at 0 when the stage starts."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_serialization_defaults_required=True
    )

    schedule: Spec
    duration: PositiveCount | None = None
    """Length in the sequence's unit; null for the last stage, which runs forever."""


class SequenceSpec(_SpecModel):
    """PyTorch SequentialLR: stages one after another, each restarting its own t at 0."""

    type: Literal["sequence"] = "sequence"
    stages: tuple[Stage, ...] = Field(min_length=1)

    @field_validator("stages")
    @classmethod
    def _only_last_is_open(cls, stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
        for index, stage in enumerate(stages[:-1]):
            if stage.duration is None:
                raise ValueError(f"stage {index} needs a duration (only the last stage has none)")
        if stages[-1].duration is not None:
            raise ValueError("the last stage runs forever: its duration must be null")
        _check_nesting([stage.schedule for stage in stages])
        return stages


class ReduceOnPlateauSpec(_SpecModel):
    """Keras or PyTorch ReduceLROnPlateau, optionally on top of another schedule (``base``)."""

    type: Literal["reduce_on_plateau"] = "reduce_on_plateau"
    monitor: str = Field(min_length=1, max_length=200)
    factor: Fraction = 0.1
    patience: Count = 10
    mode: Literal["min", "max"] = "min"
    """``auto`` is accepted on input and resolved: *loss* → min, *acc*/*auc* → max."""
    min_delta: NonNegative = 1e-4
    cooldown: Count = 0
    min_lr: Rate = 0.0
    base: Spec | None = None
    initial_learning_rate: Rate | None = Field(default=None, validate_default=True)
    semantics: Literal["keras", "torch"] = "keras"
    threshold_mode: Literal["rel", "abs"] = "rel"
    """PyTorch's threshold_mode (``min_delta`` is its threshold); Keras is always absolute."""
    restart_after: PositiveCount | None = None
    stop_patience: Count | None = None

    @field_validator("mode", mode="before")
    @classmethod
    def _resolve_auto(cls, mode: Any, info: ValidationInfo) -> Any:
        if mode != "auto":
            return mode
        monitor = str(info.data.get("monitor", "")).lower()
        if "loss" in monitor:
            return "min"
        if "acc" in monitor or "auc" in monitor:
            return "max"
        raise ValueError(f"cannot tell whether {monitor!r} should go up or down: give min or max")

    @field_validator("initial_learning_rate")
    @classmethod
    def _rate_or_base(cls, rate: float | None, info: ValidationInfo) -> float | None:
        if "base" not in info.data:  # base itself is invalid and already reported
            return rate
        base = info.data["base"]
        if rate is None and base is None:
            raise ValueError("give initial_learning_rate or base")
        if rate is not None and base is not None:
            raise ValueError("give initial_learning_rate or base, not both")
        return rate

    @field_validator("threshold_mode")
    @classmethod
    def _abs_needs_torch(cls, threshold_mode: str, info: ValidationInfo) -> str:
        if threshold_mode == "abs" and info.data.get("semantics") == "keras":
            raise ValueError("threshold_mode 'abs' needs semantics 'torch' (Keras is absolute)")
        return threshold_mode

    @field_validator("base")
    @classmethod
    def _bounded_nesting(cls, base: Spec | None) -> Spec | None:
        if base is not None:
            _check_nesting([base])
        return base


class ExpressionSpec(_SpecModel):
    """A safe formula of epoch, step, t, prev_lr, initial_learning_rate and metrics."""

    type: Literal["expression"] = "expression"
    expression: str
    initial_learning_rate: Rate

    @field_validator("expression")
    @classmethod
    def _compiles(cls, expression: str) -> str:
        compile_expression(expression)
        return expression


class _Kwargs(BaseModel):
    """A library's scheduler arguments: unknown names are refused, defaults are the library's."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _NoKwargs(_Kwargs):
    pass


class _CosineKwargs(_Kwargs):
    num_cycles: Finite = 0.5


class _RestartsKwargs(_Kwargs):
    num_cycles: PositiveCount = 1


class _PolynomialKwargs(_Kwargs):
    lr_end: Rate = 1e-7
    power: Finite = 1.0


class _InverseSqrtKwargs(_Kwargs):
    timescale: PositiveCount | None = None


class _CosineMinKwargs(_Kwargs):
    num_cycles: Finite = 0.5
    min_lr: Rate | None = None
    min_lr_rate: NonNegative | None = None

    @model_validator(mode="after")
    def _one_minimum(self) -> _CosineMinKwargs:
        if (self.min_lr is None) == (self.min_lr_rate is None):
            raise ValueError("give exactly one of min_lr or min_lr_rate")
        return self


class _CosineWarmupMinKwargs(_CosineMinKwargs):
    warmup_lr_rate: Finite | None = None


WsdShape = Literal["linear", "cosine", "1-sqrt"]


class _WsdKwargs(_Kwargs):
    num_decay_steps: Count
    num_stable_steps: Count | None = None
    warmup_type: WsdShape = "linear"
    decay_type: WsdShape = "cosine"
    min_lr_ratio: NonNegative = 0.0
    num_cycles: Finite = 0.5


class _TorchPlateauKwargs(_Kwargs):
    mode: Literal["min", "max"] = "min"
    factor: Fraction = 0.1
    patience: Count = 10
    threshold: NonNegative = 1e-4
    threshold_mode: Literal["rel", "abs"] = "rel"
    cooldown: Count = 0
    min_lr: Rate = 0.0


TRANSFORMERS_KWARGS: dict[str, type[_Kwargs]] = {
    "constant": _NoKwargs,
    "constant_with_warmup": _NoKwargs,
    "linear": _NoKwargs,
    "cosine": _CosineKwargs,
    "cosine_with_restarts": _RestartsKwargs,
    "polynomial": _PolynomialKwargs,
    "inverse_sqrt": _InverseSqrtKwargs,
    "cosine_with_min_lr": _CosineMinKwargs,
    "cosine_warmup_with_min_lr": _CosineWarmupMinKwargs,
    "warmup_stable_decay": _WsdKwargs,
    "reduce_lr_on_plateau": _TorchPlateauKwargs,
}
# The types whose get_scheduler needs num_training_steps.
_NEEDS_TRAINING_STEPS = frozenset(
    {"linear", "cosine", "cosine_with_restarts", "polynomial", "cosine_with_min_lr"}
    | {"cosine_warmup_with_min_lr"}
)


def _library_kwargs(
    table: Mapping[str, type[_Kwargs]], scheduler: str | None, kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """`kwargs` validated by `scheduler`'s argument model, defaults filled (a ValueError names
    the argument otherwise)."""
    if scheduler is None:  # the scheduler itself is invalid and already reported
        return dict(kwargs)
    try:
        return table[scheduler].model_validate(kwargs).model_dump()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or scheduler}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"{scheduler}: {problems}") from None


class TransformersSpec(_SpecModel):
    """``transformers.get_scheduler(scheduler, optimizer(lr=learning_rate), num_warmup_steps,
    num_training_steps, scheduler_specific_kwargs=kwargs)``, exactly."""

    type: Literal["transformers"] = "transformers"
    unit: Unit = "step"
    scheduler: Literal[
        "constant",
        "constant_with_warmup",
        "linear",
        "cosine",
        "cosine_with_restarts",
        "polynomial",
        "inverse_sqrt",
        "cosine_with_min_lr",
        "cosine_warmup_with_min_lr",
        "warmup_stable_decay",
        "reduce_lr_on_plateau",
    ]
    learning_rate: Rate
    num_warmup_steps: Count = 0
    num_training_steps: PositiveCount | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict, validate_default=True)
    monitor: str | None = Field(default=None, min_length=1, max_length=200, validate_default=True)
    """The metric reduce_lr_on_plateau watches (Transformers' Trainer: ``eval_loss``)."""

    @field_validator("kwargs")
    @classmethod
    def _known_kwargs(cls, kwargs: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return _library_kwargs(TRANSFORMERS_KWARGS, info.data.get("scheduler"), kwargs)

    @field_validator("monitor")
    @classmethod
    def _plateau_monitor(cls, monitor: str | None, info: ValidationInfo) -> str | None:
        plateau = info.data.get("scheduler") == "reduce_lr_on_plateau"
        if monitor is not None and not plateau:
            raise ValueError("only reduce_lr_on_plateau watches a metric")
        return ("eval_loss" if monitor is None else monitor) if plateau else None

    @model_validator(mode="after")
    def _library_preconditions(self) -> TransformersSpec:
        # get_scheduler's own refusals, so that an accepted spec always has a rate.
        if self.scheduler in _NEEDS_TRAINING_STEPS and self.num_training_steps is None:
            raise ValueError(f"{self.scheduler} needs num_training_steps")
        if self.scheduler == "polynomial" and not self.learning_rate > self.kwargs["lr_end"]:
            raise ValueError("polynomial: kwargs.lr_end must be smaller than learning_rate")
        if self.scheduler == "warmup_stable_decay" and self.kwargs["num_stable_steps"] is None:
            if self.num_training_steps is None:
                raise ValueError("warmup_stable_decay needs num_training_steps or num_stable_steps")
            if self.num_training_steps < self.num_warmup_steps + self.kwargs["num_decay_steps"]:
                raise ValueError("num_training_steps < num_warmup_steps + kwargs.num_decay_steps")
        min_lr = self.kwargs.get("min_lr")
        plateau = self.scheduler == "reduce_lr_on_plateau"
        if min_lr is not None and not plateau and self.learning_rate == 0:
            raise ValueError("kwargs.min_lr needs a learning_rate > 0 (it is divided by it)")
        return self


class _TimmWarmup(_Kwargs):
    warmup_t: Count = 0
    warmup_lr_init: Rate = 0.0


class _TimmCycles(_TimmWarmup):
    t_initial: PositiveCount
    lr_min: Rate = 0.0
    cycle_mul: Positive = 1.0
    cycle_decay: NonNegative = 1.0
    cycle_limit: Count = 1
    warmup_prefix: bool = False


class _TimmCosineKwargs(_TimmCycles):
    k_decay: Positive = 1.0


class _TimmPolyKwargs(_TimmCosineKwargs):
    power: Finite = 0.5


class _TimmTanhKwargs(_TimmCycles):
    lb: Finite = -7.0
    ub: Finite = 3.0

    @model_validator(mode="after")
    def _bounds(self) -> _TimmTanhKwargs:
        if not self.lb < self.ub:
            raise ValueError("lb must be smaller than ub")
        return self


class _TimmStepKwargs(_TimmWarmup):
    decay_t: Positive
    decay_rate: Finite = 1.0
    warmup_prefix: bool = True


class _TimmMultiStepKwargs(_TimmWarmup):
    decay_t: tuple[Count, ...] = Field(min_length=1)
    decay_rate: Finite = 1.0
    warmup_prefix: bool = True

    @field_validator("decay_t")
    @classmethod
    def _increasing(cls, decay_t: tuple[int, ...]) -> tuple[int, ...]:
        if any(b < a for a, b in itertools.pairwise(decay_t)):
            raise ValueError("decay_t must be increasing")
        return decay_t


class _TimmWsdKwargs(_TimmWarmup):
    t_initial: PositiveCount
    decay_t: PositiveCount
    lr_min: Rate = 0.0
    stable_fn: Literal["constant", "rsqrt", "power"] = "constant"
    stable_timescale: Positive | None = None
    stable_power: Positive = 0.5
    decay_fn: Literal["linear", "1-sqrt", "cosine", "power", "exp"] = "1-sqrt"
    decay_power: Positive = 0.5
    decay_ratio: Fraction = 0.1

    @model_validator(mode="after")
    def _phases(self) -> _TimmWsdKwargs:
        if self.decay_t > self.t_initial:
            raise ValueError("decay_t must be in (0, t_initial]")
        if self.stable_fn != "constant" and self.stable_timescale is None and not self.warmup_t:
            raise ValueError(f"stable_fn {self.stable_fn!r} needs stable_timescale (or warmup_t)")
        return self


class _TimmPlateauKwargs(_TimmWarmup):
    decay_rate: Fraction = 0.1
    patience_t: Count = 10
    threshold: NonNegative = 1e-4
    cooldown_t: Count = 0
    lr_min: Rate = 0.0
    mode: Literal["min", "max"] = "max"


TIMM_KWARGS: dict[str, type[_Kwargs]] = {
    "cosine": _TimmCosineKwargs,
    "step": _TimmStepKwargs,
    "multistep": _TimmMultiStepKwargs,
    "poly": _TimmPolyKwargs,
    "tanh": _TimmTanhKwargs,
    "wsd": _TimmWsdKwargs,
    "plateau": _TimmPlateauKwargs,
}


class TimmSpec(_SpecModel):
    """timm's scheduler class ``scheduler`` built with ``kwargs`` on an optimizer of rate
    ``learning_rate``, noise off; its ``t_in_epochs`` is the spec's unit."""

    type: Literal["timm"] = "timm"
    scheduler: Literal["cosine", "step", "multistep", "poly", "tanh", "wsd", "plateau"]
    learning_rate: Rate
    kwargs: dict[str, Any] = Field(default_factory=dict, validate_default=True)
    monitor: str | None = Field(default=None, min_length=1, max_length=200, validate_default=True)
    """The metric plateau watches (required for it)."""

    @field_validator("kwargs")
    @classmethod
    def _known_kwargs(cls, kwargs: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return _library_kwargs(TIMM_KWARGS, info.data.get("scheduler"), kwargs)

    @field_validator("monitor")
    @classmethod
    def _plateau_monitor(cls, monitor: str | None, info: ValidationInfo) -> str | None:
        plateau = info.data.get("scheduler") == "plateau"
        if plateau and monitor is None:
            raise ValueError("plateau needs the metric it watches")
        if not plateau and monitor is not None:
            raise ValueError("only plateau watches a metric")
        return monitor


class ProductSpec(_SpecModel):
    """PyTorch ChainedScheduler: the product of the factors' rates. The first factor gives the
    rate, the others multipliers (write them with an initial rate of 1)."""

    type: Literal["product"] = "product"
    factors: tuple[Spec, ...] = Field(min_length=1)

    @field_validator("factors")
    @classmethod
    def _bounded_nesting(cls, factors: tuple[Spec, ...]) -> tuple[Spec, ...]:
        _check_nesting(list(factors))
        return factors


StatelessSpec: TypeAlias = (
    ConstantSpec
    | ExponentialDecaySpec
    | InverseTimeDecaySpec
    | PiecewiseConstantDecaySpec
    | PolynomialDecaySpec
    | CosineDecaySpec
    | CosineDecayRestartsSpec
    | StepDecaySpec
    | MultiStepSpec
    | LinearSpec
    | CyclicSpec
    | OneCycleSpec
    | RampHoldDecaySpec
    | TransformersSpec
    | TimmSpec
)
"""The specs whose rate depends on t alone (the libraries' plateau schedulers aside: they are
evaluated as their `plateau_equivalent`)."""

_AnySpec: TypeAlias = (
    StatelessSpec | SequenceSpec | ReduceOnPlateauSpec | ExpressionSpec | ProductSpec
)

Spec: TypeAlias = Annotated[_AnySpec, Field(discriminator="type")]
"""Any schedule spec, discriminated on ``type``."""

Stage.model_rebuild()
SequenceSpec.model_rebuild()
ReduceOnPlateauSpec.model_rebuild()
ProductSpec.model_rebuild()

SpecAdapter: TypeAdapter[Spec] = TypeAdapter(Spec)
SPEC_TYPES = frozenset(model.model_fields["type"].default for model in get_args(_AnySpec))


def children(spec: Spec) -> list[Spec]:
    """The specs nested directly inside ``spec``."""
    if isinstance(spec, SequenceSpec):
        return [stage.schedule for stage in spec.stages]
    if isinstance(spec, ReduceOnPlateauSpec) and spec.base is not None:
        return [spec.base]
    if isinstance(spec, ProductSpec):
        return list(spec.factors)
    return []


def plateau_equivalent(spec: TransformersSpec | TimmSpec) -> Spec | None:
    """The lrhub spec a library's plateau scheduler is (None for the others, whose rate depends
    on t alone): Transformers' is torch's ReduceLROnPlateau; timm's ramps linearly over warmup_t
    (ignoring the metrics meanwhile, as timm does) and then is torch's, from the ramp's end."""
    kwargs = spec.kwargs
    assert spec.monitor is not None or spec.scheduler not in {"reduce_lr_on_plateau", "plateau"}
    if isinstance(spec, TransformersSpec):
        if spec.scheduler != "reduce_lr_on_plateau":
            return None
        return ReduceOnPlateauSpec(
            unit=spec.unit,
            monitor=spec.monitor or "",
            semantics="torch",
            initial_learning_rate=spec.learning_rate,
            mode=kwargs["mode"],
            factor=kwargs["factor"],
            patience=kwargs["patience"],
            min_delta=kwargs["threshold"],
            threshold_mode=kwargs["threshold_mode"],
            cooldown=kwargs["cooldown"],
            min_lr=kwargs["min_lr"],
        )
    if spec.scheduler != "plateau":
        return None
    warmup_t, start = kwargs["warmup_t"], kwargs["warmup_lr_init"]
    # timm's ramp: start + t * (rate - start) / warmup_t; the plateau reduces the rate it ends on.
    ramp_end = start + warmup_t * ((spec.learning_rate - start) / warmup_t) if warmup_t else 0.0
    plateau = ReduceOnPlateauSpec(
        unit=spec.unit,
        monitor=spec.monitor or "",
        semantics="torch",
        initial_learning_rate=ramp_end if warmup_t else spec.learning_rate,
        mode=kwargs["mode"],
        factor=kwargs["decay_rate"],
        patience=kwargs["patience_t"],
        min_delta=kwargs["threshold"],
        cooldown=kwargs["cooldown_t"],
        min_lr=kwargs["lr_min"],
    )
    if not warmup_t:
        return plateau
    ramp = LinearSpec(
        unit=spec.unit, start_learning_rate=start, end_learning_rate=ramp_end, duration=warmup_t
    )
    return SequenceSpec(
        unit=spec.unit,
        stages=(Stage(schedule=ramp, duration=warmup_t), Stage(schedule=plateau)),
    )


# One rate of a built-in schedule takes about as long as evaluating this many expression nodes
# (measured: ~1.3 us for a cosine decay, ~0.05 us per expression node).
BUILT_IN_RATE_COST = 25


def evaluation_cost(spec: Spec) -> int:
    """What one rate of `spec` costs to evaluate, in expression nodes (a built-in schedule counts
    `BUILT_IN_RATE_COST`): the work bound a request multiplies by the rates it asks for."""
    own = (
        compile_expression(spec.expression).size
        if isinstance(spec, ExpressionSpec)
        else BUILT_IN_RATE_COST
    )
    if isinstance(spec, SequenceSpec):
        return own + max(evaluation_cost(child) for child in children(spec))
    return own + sum(evaluation_cost(child) for child in children(spec))


def nesting_depth(spec: Spec) -> int:
    """1 for a plain spec, plus one per level of sequence stages or plateau base."""
    return 1 + max((nesting_depth(child) for child in children(spec)), default=0)


def _check_nesting(nested: list[Spec]) -> None:
    depth = 1 + max(nesting_depth(spec) for spec in nested)
    if depth > MAX_NESTING:
        raise ValueError(f"specs nest {depth} levels deep; the limit is {MAX_NESTING}")


def parse_spec(data: Mapping[str, Any], *, stored: bool = False) -> Spec:
    """Validate ``data`` into a spec; SpecError (ExpressionError for formulas) names the fields.

    ``stored``: ``data`` is a spec's canonical JSON as stored earlier; fields added since then
    take the value that keeps its meaning (a one_cycle or cyclic stored without
    ``cycle_momentum`` cycles no momentum), not the default a new spec gets.
    """
    try:
        return SpecAdapter.validate_python(data, context={"stored": stored})
    except ValidationError as exc:
        raise _spec_error(exc) from None


def spec_to_json(spec: Spec) -> dict[str, Any]:
    """Canonical JSON form of ``spec`` with every default filled in."""
    data: dict[str, Any] = SpecAdapter.dump_python(spec, mode="json")
    return data


def needs_steps_per_epoch(spec: Spec) -> bool:
    """True if any part counts steps (unit "step", or an expression reading ``step``)."""
    if spec.unit == "step":
        return True
    if isinstance(spec, ExpressionSpec) and "step" in compile_expression(spec.expression).names:
        return True
    return any(needs_steps_per_epoch(child) for child in children(spec))


# Keys under which a spec sits; pydantic puts the union's tag (the spec's "type") after them.
_SPEC_KEYS = frozenset({"spec", "schedule", "base"})
_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def error_location(error: Mapping[str, Any]) -> str:
    """A pydantic error's `loc` as a dotted path without the spec union's tags.

    ("body", "spec", "step_decay", "every") -> "body.spec.every"; a missing or unknown `type`
    is reported at the `type` field. The service's problem answers and the engine's own
    SpecError both name fields this way.
    """
    path: list[str] = []
    expect_tag = True  # a spec parsed alone starts with its tag
    previous: object = None
    for part in error.get("loc", ()):
        if not (expect_tag and part in SPEC_TYPES):
            path.append(str(part))
        # A product's factors are a list of specs: the tag follows the index.
        expect_tag = part in _SPEC_KEYS or (previous == "factors" and isinstance(part, int))
        previous = part
    if error.get("type") in _TAG_ERRORS:
        path.append("type")
    return ".".join(path)


def _spec_error(exc: ValidationError) -> SpecError:
    errors: list[ErrorDetail] = []
    refused_expression = False
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        refused_expression = refused_expression or isinstance(cause, ExpressionError)
        message = str(cause) if isinstance(cause, ValueError) else error["msg"]
        errors.append({"loc": error_location(error), "msg": message})
    summary = "; ".join(f"{e['loc'] or 'spec'}: {e['msg']}" for e in errors)
    error_class = ExpressionError if refused_expression else SpecError
    return error_class(f"invalid spec: {summary}", errors)
