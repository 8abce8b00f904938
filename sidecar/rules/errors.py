"""The one error a bad rules file raises, with pydantic's findings made readable."""

from __future__ import annotations

from pydantic import ValidationError


class RulesError(ValueError):
    """A rules file that cannot be read, parsed or validated."""


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, each prefixed with the dotted location in the file."""
    lines = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{location}: {message}")
    return "\n".join(lines)
