"""Opaque global ids: base64 of `Type:primary key`, the Relay convention."""

from __future__ import annotations

import base64
import binascii

from graph.errors import UserInputError

NODE_TYPES = ("Film", "Person", "Genre", "Provider")


def to_global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode("ascii")


def from_global_id(global_id: str, argument: str = "id") -> tuple[str, int]:
    """Decode any node id; BAD_USER_INPUT when it is not one of ours."""
    try:
        raw = base64.b64decode(global_id.encode("ascii"), validate=True).decode("utf-8")
        type_name, _, pk_text = raw.partition(":")
        pk = int(pk_text)
    except (ValueError, UnicodeError, binascii.Error):
        raise UserInputError(
            f"{argument}: not a valid id: {global_id[:100]!r}", argument=argument
        ) from None
    if type_name not in NODE_TYPES or not 0 < pk < 2**63 or pk_text != str(pk):
        raise UserInputError(f"{argument}: not a valid id: {global_id[:100]!r}", argument=argument)
    return type_name, pk


def pk_of(global_id: str, expected: str, argument: str = "id") -> int:
    """The primary key in an id that must name an `expected` node."""
    type_name, pk = from_global_id(global_id, argument)
    if type_name != expected:
        raise UserInputError(
            f"{argument}: expected the id of a {expected}, got the id of a {type_name}",
            argument=argument,
        )
    return pk
