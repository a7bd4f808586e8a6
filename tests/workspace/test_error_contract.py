"""The server's problem types and the client's exceptions agree: every problem type the server
can answer has its own exception class on the client."""

from __future__ import annotations

import pytest

from lrhub.client.errors import PROBLEM_TYPE_PREFIX, ProblemError, ServerError, problem_class
from lrhub.service import errors
from lrhub.service.http.problems import (
    PROBLEM_BASE,
    PROBLEM_TYPES,
    ProblemType,
    class_problem_type,
    problem_type,
)


def error_classes(base: type[errors.ServiceError]) -> list[type[errors.ServiceError]]:
    """`base` and every class below it."""
    found = [base]
    for sub in base.__subclasses__():
        found.extend(error_classes(sub))
    return found


def answered(cls: type[errors.ServiceError]) -> ProblemType:
    """The problem type the server answers for an error of class `cls`."""
    if cls is errors.HttpError:
        return problem_type(errors.HttpError(405, "x"))
    return class_problem_type(cls)


def test_both_sides_use_one_problem_type_prefix() -> None:
    assert PROBLEM_BASE == PROBLEM_TYPE_PREFIX


@pytest.mark.parametrize("cls", error_classes(errors.ServiceError), ids=lambda cls: cls.__name__)
def test_every_server_error_has_its_own_client_exception(cls: type[errors.ServiceError]) -> None:
    kind = answered(cls)
    # Status 0 keeps the client from falling back on the status: the type alone must match.
    client_class = problem_class(0, PROBLEM_BASE + kind.slug)
    assert issubclass(client_class, ProblemError)
    if kind.status == 500:
        assert client_class is ServerError
    else:
        assert client_class not in (ProblemError, ServerError), f"{kind.slug} unknown to the client"


def test_the_mapping_table_covers_the_hierarchy_without_strays() -> None:
    classes = set(error_classes(errors.ServiceError))
    assert set(PROBLEM_TYPES) <= classes
    # Besides the abstract group and the framework's own errors, an unlisted class is a
    # refinement answered as its listed base.
    for cls in classes - set(PROBLEM_TYPES) - {errors.RequestError, errors.HttpError}:
        assert any(base in PROBLEM_TYPES for base in cls.__mro__[1:]), cls
