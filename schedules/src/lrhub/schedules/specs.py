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


class CyclicSpec(_SpecModel):
    """PyTorch CyclicLR (triangular, triangular2, exp_range)."""

    type: Literal["cyclic"] = "cyclic"
    base_learning_rate: Rate
    max_learning_rate: Rate
    step_size_up: Positive
    step_size_down: Positive | None = None
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    gamma: Positive = 1.0


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
)
"""The specs whose rate depends on t alone."""

_AnySpec: TypeAlias = StatelessSpec | SequenceSpec | ReduceOnPlateauSpec | ExpressionSpec

Spec: TypeAlias = Annotated[_AnySpec, Field(discriminator="type")]
"""Any schedule spec, discriminated on ``type``."""

Stage.model_rebuild()
SequenceSpec.model_rebuild()
ReduceOnPlateauSpec.model_rebuild()

SpecAdapter: TypeAdapter[Spec] = TypeAdapter(Spec)
SPEC_TYPES = frozenset(model.model_fields["type"].default for model in get_args(_AnySpec))


def children(spec: Spec) -> list[Spec]:
    """The specs nested directly inside ``spec``."""
    if isinstance(spec, SequenceSpec):
        return [stage.schedule for stage in spec.stages]
    if isinstance(spec, ReduceOnPlateauSpec) and spec.base is not None:
        return [spec.base]
    return []


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


def parse_spec(data: Mapping[str, Any]) -> Spec:
    """Validate ``data`` into a spec; SpecError (ExpressionError for formulas) names the fields."""
    try:
        return SpecAdapter.validate_python(data)
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
    for part in error.get("loc", ()):
        if not (expect_tag and part in SPEC_TYPES):
            path.append(str(part))
        expect_tag = part in _SPEC_KEYS
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
