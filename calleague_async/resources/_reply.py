"""Reading the replies seed 002 does not document: the id we addressed, when a reply omits it."""

from __future__ import annotations

from typing import Any


def with_id(data: object, key: str, others: tuple[str, ...], value: str) -> Any:
    """``data`` with ``key: value`` added when it names no id (an empty 2xx reply is ``{}``).

    Seed 002 documents no reply for its updates and actions; the id we addressed is known
    either way, so the model keeps it instead of an empty id. Anything but an object (or an
    empty body) is returned as it came, for :func:`~calleague_async._convert.structure` to
    refuse.
    """
    if data is None:
        return {key: value}
    if isinstance(data, dict) and key not in data and not any(k in data for k in others):
        return {key: value, **data}
    return data
