"""Safe arithmetic formulas: parsed once with ``ast``, compiled to a tree of closures.

Nothing is passed to eval/exec. Only numbers, a fixed set of names and functions, arithmetic,
comparisons, and/or/not and ``a if c else b`` are accepted; everything else is refused with a
message naming the construct. Values are floats throughout, so ``**`` costs the same for any
exponent; constant sub-expressions are folded at compile time, which refuses ``9**9**9`` when
the spec is stored rather than when it is first evaluated.

Names: ``epoch``, ``step``, ``t``, ``prev_lr``, ``initial_learning_rate``, the constants ``pi``
and ``e``; any other identifier is the name of a reported metric (``val_loss``). Identifiers
starting with ``_`` and function names used as values are refused.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from .errors import EvaluationError, ExpressionError

MAX_LENGTH = 1000
MAX_DEPTH = 100
MAX_NODES = 400

#: Names the engine provides; every other free identifier is a metric.
BUILTIN_NAMES = frozenset({"epoch", "step", "t", "prev_lr", "initial_learning_rate"})
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

Env = Mapping[str, float]
Evaluator = Callable[[Env], float]


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _floor(value: float) -> float:
    return float(math.floor(value))


def _ceil(value: float) -> float:
    return float(math.ceil(value))


# name -> (function, minimum arity, maximum arity or None for unbounded)
FUNCTIONS: dict[str, tuple[Callable[..., float], int, int | None]] = {
    "exp": (math.exp, 1, 1),
    "log": (math.log, 1, 2),
    "log10": (math.log10, 1, 1),
    "sqrt": (math.sqrt, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
    "floor": (_floor, 1, 1),
    "ceil": (_ceil, 1, 1),
    "abs": (abs, 1, 1),
    "min": (min, 2, None),
    "max": (max, 2, None),
    "pow": (math.pow, 2, 2),
    "clip": (_clip, 3, 3),
}

_BINARY: dict[type[ast.operator], tuple[str, Callable[[float, float], float]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod),
    # math.pow never returns a complex number and raises OverflowError instead of hanging.
    ast.Pow: ("**", math.pow),
}

_COMPARE: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}

_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}

_REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Slice: "slices are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}


@dataclass(frozen=True)
class CompiledExpression:
    """A validated formula, ready to evaluate many times."""

    source: str
    names: frozenset[str]
    """Every variable the formula reads: built-in names and metric names."""
    size: int
    """How many syntax nodes it has: what one evaluation costs, roughly."""
    _evaluate: Evaluator

    @property
    def metrics(self) -> frozenset[str]:
        """The metric names the formula reads."""
        return self.names - BUILTIN_NAMES

    def evaluate(self, env: Env) -> float:
        """The formula's value; EvaluationError when it is undefined or not finite."""
        missing = sorted(self.names - env.keys())
        if missing:
            raise EvaluationError(f"expression needs {', '.join(missing)}, which is not available")
        try:
            value = self._evaluate(env)
        except ZeroDivisionError as exc:
            raise EvaluationError(f"expression divides by zero: {exc}") from exc
        except OverflowError as exc:
            raise EvaluationError("expression overflows (result too large)") from exc
        except ValueError as exc:
            raise EvaluationError(f"expression is undefined here: {exc}") from exc
        if not math.isfinite(value):
            raise EvaluationError(f"expression is not finite ({value})")
        return value


@lru_cache(maxsize=512)
def compile_expression(source: str) -> CompiledExpression:
    """Parse and check ``source``; ExpressionError names what is not allowed."""
    _check_raw_text(source)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid expression syntax: {exc.msg}") from exc
    except (RecursionError, MemoryError) as exc:
        raise ExpressionError("expression is nested too deeply") from exc
    except ValueError as exc:  # null bytes
        raise ExpressionError(f"invalid expression: {exc}") from exc
    size = _check_size(tree.body)
    compiler = _Compiler()
    evaluate, _ = compiler.compile(tree.body)
    return CompiledExpression(source, frozenset(compiler.names), size, evaluate)


def _check_raw_text(source: str) -> None:
    """Refuse huge or deeply bracketed text before Python's own parser sees it."""
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            f"expression is {len(source)} characters long; the limit is {MAX_LENGTH}"
        )
    if not source.strip():
        raise ExpressionError("expression is empty")
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise ExpressionError(f"expression nests brackets {deepest} deep; the limit is {MAX_DEPTH}")


def _check_size(root: ast.AST) -> int:
    """Bound node count and depth iteratively, so compiling cannot recurse too far; the count."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExpressionError(f"expression has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nests more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return count


class _Compiler:
    """Turns a checked AST into closures; records the variable names it reads."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def compile(self, node: ast.AST) -> tuple[Evaluator, float | None]:
        """Closure for ``node`` and its value when it is constant."""
        refusal = _REFUSED.get(type(node))
        if refusal is not None:
            raise ExpressionError(refusal)
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.BoolOp):
            return self._boolean(node)
        if isinstance(node, ast.IfExp):
            return self._conditional(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ExpressionError(f"{type(node).__name__} is not allowed")

    def _constant(self, node: ast.Constant) -> tuple[Evaluator, float | None]:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "string" if isinstance(value, str | bytes) else repr(value)
            raise ExpressionError(f"{kind} constants are not allowed; only numbers")
        try:
            number = float(value)
        except OverflowError as exc:
            raise ExpressionError("integer constant is too large") from exc
        if not math.isfinite(number):
            raise ExpressionError("number constant is too large to be a finite float")
        return _folded(number)

    def _name(self, node: ast.Name) -> tuple[Evaluator, float | None]:
        name = node.id
        _check_identifier(name)
        if name in FUNCTIONS:
            raise ExpressionError(f"function '{name}' must be called, as in {name}(x)")
        if name in CONSTANTS:
            return _folded(CONSTANTS[name])
        self.names.add(name)
        return (lambda env: env[name]), None

    def _binary(self, node: ast.BinOp) -> tuple[Evaluator, float | None]:
        entry = _BINARY.get(type(node.op))
        if entry is None:
            raise ExpressionError(f"operator '{_symbol(node.op)}' is not allowed")
        symbol, function = entry
        left, left_value = self.compile(node.left)
        right, right_value = self.compile(node.right)
        if left_value is not None and right_value is not None:
            return _fold(symbol, function, left_value, right_value)
        return (lambda env: function(left(env), right(env))), None

    def _unary(self, node: ast.UnaryOp) -> tuple[Evaluator, float | None]:
        operand, value = self.compile(node.operand)
        if isinstance(node.op, ast.USub):
            if value is not None:
                return _folded(-value)
            return (lambda env: -operand(env)), None
        if isinstance(node.op, ast.UAdd):
            return operand, value
        if isinstance(node.op, ast.Not):
            if value is not None:
                return _folded(0.0 if value else 1.0)
            return (lambda env: 0.0 if operand(env) else 1.0), None
        raise ExpressionError(f"operator '{_symbol(node.op)}' is not allowed")

    def _compare(self, node: ast.Compare) -> tuple[Evaluator, float | None]:
        tests: list[Callable[[float, float], bool]] = []
        for op in node.ops:
            test = _COMPARE.get(type(op))
            if test is None:
                raise ExpressionError(f"operator '{_symbol(op)}' is not allowed")
            tests.append(test)
        first, _ = self.compile(node.left)
        rest = [self.compile(comparator)[0] for comparator in node.comparators]

        def compare(env: Env) -> float:
            # Chained like Python: a < b < c is a < b and b < c, evaluated lazily.
            left = first(env)
            for test, operand in zip(tests, rest, strict=True):
                right = operand(env)
                if not test(left, right):
                    return 0.0
                left = right
            return 1.0

        return compare, None

    def _boolean(self, node: ast.BoolOp) -> tuple[Evaluator, float | None]:
        operands = [self.compile(value)[0] for value in node.values]
        is_and = isinstance(node.op, ast.And)

        def boolean(env: Env) -> float:
            # Python's semantics: the first deciding operand's value.
            value = 0.0
            for operand in operands:
                value = operand(env)
                if bool(value) != is_and:
                    return value
            return value

        return boolean, None

    def _conditional(self, node: ast.IfExp) -> tuple[Evaluator, float | None]:
        condition, _ = self.compile(node.test)
        then, _ = self.compile(node.body)
        otherwise, _ = self.compile(node.orelse)
        return (lambda env: then(env) if condition(env) else otherwise(env)), None

    def _call(self, node: ast.Call) -> tuple[Evaluator, float | None]:
        if not isinstance(node.func, ast.Name):
            refusal = _REFUSED.get(type(node.func), "calling a computed value is not allowed")
            raise ExpressionError(refusal)
        name = node.func.id
        _check_identifier(name)
        if name not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(f"function '{name}' is not allowed; allowed: {allowed}")
        if node.keywords:
            raise ExpressionError(f"keyword arguments are not allowed (in {name}())")
        compiled = [self.compile(arg) for arg in node.args]
        function, least, most = FUNCTIONS[name]
        count = len(node.args)
        if count < least or (most is not None and count > most):
            expected = f"at least {least}" if most is None else f"{least} to {most}"
            if least == most:
                expected = str(least)
            raise ExpressionError(f"{name}() takes {expected} arguments, got {count}")
        arguments = [evaluate for evaluate, _ in compiled]
        values = [value for _, value in compiled]
        if all(value is not None for value in values):
            try:
                return _folded(float(function(*values)))
            except (ArithmeticError, ValueError) as exc:
                raise ExpressionError(f"{name}() of constants is undefined: {exc}") from exc
        return (lambda env: float(function(*(argument(env) for argument in arguments)))), None


def _check_identifier(name: str) -> None:
    if name.startswith("_"):
        raise ExpressionError(f"name '{name}' is not allowed")


def _symbol(op: ast.AST) -> str:
    return _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)


def _folded(value: float) -> tuple[Evaluator, float]:
    return (lambda env: value), value


def _fold(
    symbol: str, function: Callable[[float, float], float], left: float, right: float
) -> tuple[Evaluator, float]:
    """Evaluate a constant sub-expression now, refusing one with no finite value."""
    try:
        value = function(left, right)
    except (ArithmeticError, ValueError) as exc:
        message = f"'{symbol}' of constants {left:g} and {right:g} fails: {exc}"
        raise ExpressionError(message) from exc
    if not math.isfinite(value):
        raise ExpressionError(f"'{symbol}' of constants {left:g} and {right:g} is not finite")
    return _folded(value)
