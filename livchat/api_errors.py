"""The API's error shape and input checks shared by the app routers (servers, jobs).

Every error answer is `{"error": "..."}`; routers list the codes an operation can return
so the OpenAPI document (and clients generated from it) know about them.
"""

from __future__ import annotations

from typing import Annotated

from ninja import Schema
from pydantic import AfterValidator


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


Text = Annotated[str, AfterValidator(_storable)]
"""A string that can be stored and sent over SSH: no NUL, valid UTF-8."""

Line = Annotated[str, AfterValidator(_storable), AfterValidator(_single_line)]
"""`Text` without line breaks (hosts, user names, paths)."""
