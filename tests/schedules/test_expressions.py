"""Safe expressions: what they compute, what they refuse, and how fast they refuse it."""

from __future__ import annotations

import math
from typing import Any

import pytest

from lrhub.schedules import EvaluationError, ExpressionError, SpecError, decide, parse_spec
from lrhub.schedules.expressions import MAX_LENGTH, compile_expression


def value(source: str, **env: float) -> float:
    return compile_expression(source).evaluate(env)


@pytest.mark.parametrize(
    ("source", "env", "expected"),
    [
        ("1 + 2 * 3 - 4 / 8", {}, 6.5),
        ("7 // 2 + 7 % 4", {}, 6.0),
        ("2 ** 10", {}, 1024.0),
        ("-x + +x - -1", {"x": 5.0}, 1.0),
        ("exp(0) + log(e) + log10(1000) + sqrt(16)", {}, 9.0),
        ("log(8, 2)", {}, 3.0),
        ("sin(0) + cos(0) + tan(0)", {}, 1.0),
        ("floor(2.7) + ceil(2.2) + abs(-1)", {}, 6.0),
        ("min(3, x, 5) + max(1, 2)", {"x": 1.0}, 3.0),
        ("pow(2, 0.5) ** 2", {}, 2.0000000000000004),
        ("clip(x, 0, 1)", {"x": 7.0}, 1.0),
        ("pi", {}, math.pi),
        ("1 < x < 3", {"x": 2.0}, 1.0),
        ("1 < x < 3", {"x": 3.0}, 0.0),
        ("x == 2 and x != 3", {"x": 2.0}, 1.0),
        ("0 or x", {"x": 4.0}, 4.0),
        ("not x", {"x": 0.0}, 1.0),
        ("0.1 if epoch < 10 else 0.01", {"epoch": 10.0}, 0.01),
        ("val_loss * 2", {"val_loss": 0.25}, 0.5),
    ],
)
def test_expression_values(source: str, env: dict[str, float], expected: float) -> None:
    assert value(source, **env) == pytest.approx(expected, rel=1e-15)


def test_names_are_builtins_and_metrics() -> None:
    compiled = compile_expression("prev_lr * exp(-t) if val_loss > best_val else epoch * pi")
    assert compiled.names == {"prev_lr", "t", "val_loss", "best_val", "epoch"}
    assert compiled.metrics == {"val_loss", "best_val"}


def test_chained_comparison_is_lazy_like_python() -> None:
    # 1 > 2 is false, so log(0) is never evaluated.
    assert value("1 > 2 > log(x)", x=0.0) == 0.0


HOSTILE: list[tuple[str, str]] = [
    ("__import__('os')", "name '__import__' is not allowed"),
    ("__import__('os').system('true')", "attribute access is not allowed"),
    ("().__class__", "attribute access is not allowed"),
    ("().__class__.__bases__[0].__subclasses__()", "attribute access is not allowed"),
    ("[x for x in range(10)]", "comprehensions are not allowed"),
    ("sum(x for x in y)", "function 'sum' is not allowed"),
    ("max(x for x in y)", "comprehensions are not allowed"),
    ("{x: 1 for x in y}", "comprehensions are not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("9**9**9", "'**'"),
    ("10**10**10", "'**'"),
    ("2.0 ** 5000", "'**'"),
    ("exp(1000)", "exp() of constants is undefined"),
    ("1e999", "number constant is too large"),
    ("9" * 400, "integer constant is too large"),
    ("1 / 0", "'/'"),
    ("a.b", "attribute access is not allowed"),
    ("x[0]", "subscripts are not allowed"),
    ("f'{x}'", "f-strings are not allowed"),
    ("(y := 1)", "assignment expressions (:=) are not allowed"),
    ("max(*x)", "starred arguments are not allowed"),
    ("open('x')", "function 'open' is not allowed"),
    ("eval('1')", "function 'eval' is not allowed"),
    ("foo(1)", "function 'foo' is not allowed"),
    ("exp", "function 'exp' must be called"),
    ("exp(x=1)", "keyword arguments are not allowed"),
    ("clip(1, 2)", "clip() takes 3 arguments, got 2"),
    ("min(1)", "min() takes at least 2 arguments, got 1"),
    ("_secret", "name '_secret' is not allowed"),
    ("'text'", "string constants are not allowed"),
    ("None", "None constants are not allowed"),
    ("True", "True constants are not allowed"),
    ("1j", "constants are not allowed"),
    ("[1, 2]", "lists are not allowed"),
    ("(1, 2)", "tuples are not allowed"),
    ("{1: 2}", "dicts are not allowed"),
    ("1 & 2", "operator '&' is not allowed"),
    ("~1", "operator '~' is not allowed"),
    ("x is 1", "operator 'is' is not allowed"),
    ("x in y", "operator 'in' is not allowed"),
    ("import os", "invalid expression syntax"),
    ("x = 1", "invalid expression syntax"),
    ("1; 2", "invalid expression syntax"),
    ("", "expression is empty"),
    ("1\x00", "null bytes"),
    ("x" * 100_000, "100000 characters long; the limit is 1000"),
    ("(" * 10_000 + "1" + ")" * 10_000, "the limit is 1000"),
    ("(" * 400 + "1" + ")" * 400, "nests brackets 400 deep"),
    ("-" * 990 + "1", "nests more than"),
    ("min(" + ",".join(["x"] * 450) + ")", "more than 400 parts"),
    ("+".join(["x"] * 150), "nests more than 100 levels deep"),
]


@pytest.mark.parametrize(("source", "fragment"), HOSTILE, ids=[h[0][:40] for h in HOSTILE])
def test_hostile_expression_is_refused_naming_the_construct(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_spec({"type": "expression", "expression": source, "initial_learning_rate": 0.1})
    assert fragment in caught.value.errors[0]["msg"]
    assert caught.value.errors[0]["loc"] == "expression"


def test_length_limit_is_checked_before_parsing() -> None:
    # A string Python's own parser would choke on is refused by length alone.
    source = "(" * (MAX_LENGTH + 1)
    with pytest.raises(ExpressionError, match="characters long"):
        compile_expression(source)


def test_expression_error_is_a_spec_error() -> None:
    with pytest.raises(SpecError):
        parse_spec({"type": "expression", "expression": "a.b", "initial_learning_rate": 0.1})


# --- evaluation inside decide --------------------------------------------------------------------


def expression(source: str, **fields: Any) -> Any:
    return parse_spec(
        {"type": "expression", "expression": source, "initial_learning_rate": 0.1, **fields}
    )


def test_prev_lr_starts_at_the_initial_rate_and_follows_decisions() -> None:
    spec = expression("prev_lr * 0.5")
    first = decide(spec, None, epoch=0)
    second = decide(spec, first.state, epoch=1)
    assert (first.learning_rate, second.learning_rate) == (0.05, 0.025)


def test_prev_lr_is_per_step_for_step_unit() -> None:
    spec = expression("prev_lr * 0.5", unit="step")
    decision = decide(spec, None, epoch=0, steps_per_epoch=3)
    assert decision.step_learning_rates == [0.05, 0.025, 0.0125]
    assert decide(spec, decision.state, epoch=1, steps_per_epoch=1).learning_rate == 0.00625


def test_names_epoch_step_and_t() -> None:
    spec = expression("epoch * 1000 + step + t / 1000")
    decision = decide(spec, None, epoch=3, steps_per_epoch=2, clock_origin=1)
    # epoch-unit: evaluated once per epoch, at its first step (global step 6), t = 3 - 1.
    assert decision.step_learning_rates == [3006.002, 3006.002]


def test_step_name_needs_steps_per_epoch() -> None:
    with pytest.raises(EvaluationError, match="steps_per_epoch"):
        decide(expression("0.1 if step < 100 else 0.01"), None, epoch=0)


def test_metric_in_formula_but_not_reported_names_it() -> None:
    spec = expression("initial_learning_rate * exp(-val_loss)")
    assert decide(spec, None, epoch=1, metrics={"val_loss": 0.0}).learning_rate == 0.1
    with pytest.raises(EvaluationError, match="'val_loss'"):
        decide(spec, None, epoch=1, metrics={"loss": 0.3})


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("0.1 - epoch", "epoch 5: expression gave a negative rate"),
        ("log(0.1 * (5 - epoch))", "epoch 5"),
        ("1 / (epoch - 5)", "epoch 5: expression divides by zero"),
        ("exp(epoch * 1000)", "epoch 5: expression overflows"),
        ("1e308 * (epoch + 5)", "epoch 5: expression is not finite"),
    ],
)
def test_bad_result_is_an_evaluation_error_naming_the_epoch(source: str, fragment: str) -> None:
    with pytest.raises(EvaluationError, match=fragment):
        decide(expression(source), None, epoch=5)
