"""Kubernetes label selectors over jobs: `parse_selector` (the jobs store makes them SQL).

Syntax (the Kubernetes one): requirements separated by commas, all of which must hold:
`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (has the label), `!k` (has not).
As in Kubernetes, `k!=v` and `k notin (...)` also match jobs without the label. Two
pseudo-labels stand for a job's own fields: `status` (`status=running`, `status notin
(stopped)`) and `job_id` (`job_id in (a,b)`: the jobs a person picked). They always exist, so
`status`, `!status`, `job_id` and `!job_id` alone are refused, and so is a status no job can
have (a typo there would widen a `!=` selection).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from lrhub.service.fields import LABEL_KEY_PATTERN, JobStatus, storable_text

STATUS_KEY = "status"
JOB_ID_KEY = "job_id"
# The pseudo-labels: a job's own fields, selected like labels (they shadow labels so named).
FIELD_KEYS = (STATUS_KEY, JOB_ID_KEY)
"""Pseudo-labels that stand for a job's own columns."""
MAX_SELECTOR_LENGTH = 4096
MAX_REQUIREMENTS = 64

_KEY = re.compile(LABEL_KEY_PATTERN.removeprefix("^").removesuffix("$"))
# A value is any run of characters the syntax does not use itself (Kubernetes label values are a
# subset); the empty value is allowed (`k=` matches an empty label).
_VALUE = re.compile(r"[^\s,()=!]*")
_TOKEN = re.compile(
    r"\s*(?:(?P<op>==|!=|=|\(|\)|,|!)|(?P<word>[^\s,()=!]+))",
)


class Operator(StrEnum):
    """What a requirement tests."""

    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    NOT_EXISTS = "!"


@dataclass(frozen=True)
class Requirement:
    """One comma-separated part: `key` compared by `operator` with `values`."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        match self.operator, self.values:
            case Operator.EXISTS, _:
                return self.key
            case Operator.NOT_EXISTS, _:
                return f"!{self.key}"
            case Operator.IN, (value,):
                return f"{self.key}={value}"
            case Operator.NOT_IN, (value,):
                return f"{self.key}!={value}"
        return f"{self.key} {self.operator.value} ({','.join(self.values)})"


@dataclass(frozen=True)
class Selector:
    """Requirements that must all hold; no requirements match every job."""

    requirements: tuple[Requirement, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.requirements)

    def __str__(self) -> str:
        """The selector's text, which `parse_selector` reads back as the same selector."""
        return ",".join(map(str, self.requirements))

    def __and__(self, other: Selector) -> Selector:
        return Selector(self.requirements + other.requirements)

    @classmethod
    def of_labels(cls, labels: Mapping[str, str]) -> Selector:
        """`k=v` for each label (the `label=` query parameter)."""
        return cls(tuple(Requirement(k, Operator.IN, (v,)) for k, v in labels.items()))

    @classmethod
    def of_status(cls, status: str | None) -> Selector:
        """`status=<status>`, or nothing for None."""
        if status is None:
            return cls()
        return cls((Requirement(STATUS_KEY, Operator.IN, (status,)),))


class SelectorError(ValueError):
    """The selector text is not valid; the message names the offending part."""


def _tokens(text: str) -> list[str]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip() == "":
                break
            raise SelectorError(f"unexpected {text[position:].strip()[:40]!r}")
        tokens.append(match.group("op") or match.group("word"))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.index += 1
        return token

    def key(self, token: str | None, part: str) -> str:
        if token is None or not _KEY.fullmatch(token):
            shown = "nothing" if token is None else repr(token)
            raise SelectorError(f"{part}: expected a label key, found {shown}")
        return token

    def values(self, key: str) -> tuple[str, ...]:
        if self.take() != "(":
            raise SelectorError(f"{key!r}: 'in' and 'notin' take a list in parentheses: (a,b)")
        values = []
        while True:
            token = self.take()
            if token in (None, ",", "(", ")", "=", "==", "!=", "!"):
                raise SelectorError(f"{key!r}: expected a value in the list, found {token!r}")
            assert token is not None
            values.append(token)
            closing = self.take()
            if closing == ")":
                return tuple(values)
            if closing != ",":
                raise SelectorError(f"{key!r}: the value list is not closed with ')'")

    def requirement(self) -> Requirement:
        first = self.take()
        if first == "!":
            key = self.key(self.take(), "'!'")
            return Requirement(key, Operator.NOT_EXISTS)
        key = self.key(first, "requirement")
        following = self.peek()
        if following in (None, ","):
            return Requirement(key, Operator.EXISTS)
        self.take()
        if following in ("=", "==", "!="):
            value = self.peek()
            if value is None or value == ",":
                value = ""  # `k=` compares with the empty value, as in Kubernetes
            else:
                self.take()
                if not _VALUE.fullmatch(value):
                    raise SelectorError(f"{key!r}: {value!r} is not a value")
            operator = Operator.NOT_IN if following == "!=" else Operator.IN
            return Requirement(key, operator, (value,))
        if following in ("in", "notin"):
            operator = Operator.IN if following == "in" else Operator.NOT_IN
            return Requirement(key, operator, self.values(key))
        raise SelectorError(
            f"{key!r}: expected =, ==, !=, in, notin, ',' or the end, found {following!r}"
        )

    def selector(self) -> Selector:
        requirements = []
        while self.peek() is not None:
            requirements.append(self.requirement())
            separator = self.take()
            if separator not in (None, ","):
                raise SelectorError(f"expected ',' between requirements, found {separator!r}")
            if separator == "," and self.peek() is None:
                raise SelectorError("a requirement is missing after the last ','")
        return Selector(tuple(requirements))


def _check_field(requirement: Requirement) -> None:
    if requirement.key not in FIELD_KEYS:
        return
    if requirement.operator in (Operator.EXISTS, Operator.NOT_EXISTS):
        example = "status=running" if requirement.key == STATUS_KEY else "job_id in (a,b)"
        raise SelectorError(f"{requirement.key!r} is always set: compare it, e.g. {example}")
    if requirement.key != STATUS_KEY:
        return
    known = [status.value for status in JobStatus]
    for value in requirement.values:
        if value not in known:
            raise SelectorError(f"status {value!r} is not one of {', '.join(known)}")


def parse_selector(text: str) -> Selector:
    """The selector `text` (Kubernetes label-selector syntax, see the module docstring)."""
    if len(text) > MAX_SELECTOR_LENGTH:
        raise SelectorError(f"longer than {MAX_SELECTOR_LENGTH} characters")
    try:
        storable_text(text)  # a value the database cannot compare with (NUL) is bad input
    except ValueError as error:
        raise SelectorError(str(error)) from None
    selector = _Parser(text).selector()
    if len(selector.requirements) > MAX_REQUIREMENTS:
        raise SelectorError(f"more than {MAX_REQUIREMENTS} requirements")
    for requirement in selector.requirements:
        _check_field(requirement)
    return selector
