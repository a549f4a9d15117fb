"""The API's error shape and input checks shared by the app routers (servers, jobs).

Every error answer is `{"error": "..."}`; routers list the codes an operation can return
so the OpenAPI document (and clients generated from it) know about them.
"""

from __future__ import annotations

from typing import Annotated

from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, Field, GetJsonSchemaHandler


class ErrorOut(Schema):
    error: str


AUTH_ERRORS = (401, 403)


def error_responses(*codes: int) -> dict[int, type[ErrorOut]]:
    """`{code: ErrorOut}` for the given codes plus the authentication ones every route has."""
    return {code: ErrorOut for code in (*AUTH_ERRORS, *codes)}


def _storable(value: str) -> str:
    # A lone surrogate cannot be encoded to UTF-8 (the database and SSH would fail later
    # with a 500); NUL is refused by PostgreSQL text columns and by shells.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _single_line(value: str) -> str:
    if any(ch in value for ch in "\r\n"):
        raise ValueError("must be a single line")
    return value


class Declare:
    """Adds keys to a type's JSON schema, declaring a rule that a validator beside it enforces
    (with its own message), e.g. `Annotated[str, AfterValidator(f), Declare(pattern=...)]`."""

    def __init__(self, **keys) -> None:
        self.keys = keys

    def __get_pydantic_json_schema__(self, core_schema, handler: GetJsonSchemaHandler) -> dict:
        schema = handler(core_schema)
        schema.update(self.keys)
        return schema


TEXT_PATTERN = r"^[^\x00]*$"
LINE_PATTERN = r"^[^\x00\r\n]*$"

Text = Annotated[str, AfterValidator(_storable), Declare(pattern=TEXT_PATTERN)]
"""A string that can be stored and sent over SSH: no NUL, valid UTF-8."""

Line = Annotated[str, AfterValidator(_storable), AfterValidator(_single_line), Declare(pattern=LINE_PATTERN)]
"""`Text` without line breaks (hosts, user names, paths)."""


def _whole(value):
    # JSON Schema's "integer" includes 3780.0; a strict Python int does not. Everything else
    # (strings, booleans, 1.5) still meets the strict check after this.
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def whole_number(*, ge: int, le: int):
    """A strict integer in [ge, le] that may be written 5 or 5.0 (not "5", true or 5.5).

    The bounds live inside the type, before the validator, so the schema shows them as
    minimum/maximum (bounds put on a field around a validated type come out as `ge`/`le`)."""
    return Annotated[int, Field(ge=ge, le=le, strict=True), BeforeValidator(_whole)]
