"""Seed 002's contacts: the leads a campaign dials, pushed one by one or in bulk.

Records use seed 002's snake_case names. A contact without ``campaign_id`` belongs to the
default campaign (``cmp_1``), so "push leads, launch" works without naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from calleague_async.testing._state.common import (
    E164,
    M48,
    InvalidError,
    NotFoundError,
    StateError,
    iso,
    now_ms,
    splitmix64,
)

__all__ = ["MAX_BULK", "ContactStore"]

MAX_BULK: Final = 1000
"""Most contacts one ``POST /v1/contacts/bulk`` takes."""

_TEXT_FIELDS: Final = ("name", "email", "campaign_id")


class ContactStore(Mapping[str, dict[str, Any]]):
    """Contacts by id, oldest first.

    A contact: ``{"id": "ct_...", "phone": "+1555...", "name": str | None, "email": str | None,
    "metadata": {...}, "campaign_id": str | None, "status": "pending" | "queued" | "called",
    "last_call_id": str | None, "created_at": ..., "updated_at": ...}``. ``status`` is the
    dialer's: ``pending`` until a campaign launch gives it a call, ``queued`` while that call
    runs, ``called`` once it ended.
    """

    def __init__(
        self,
        *,
        seed: int,
        campaign_exists: Callable[[str], bool] = lambda _: True,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._seed = seed
        self._campaign_exists = campaign_exists
        self._clock_ms = clock_ms
        self._by_id: dict[str, dict[str, Any]] = {}
        self._counter = 0

    def __getitem__(self, contact_id: str) -> dict[str, Any]:
        return self._by_id[contact_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def _check(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        """The writable fields of ``data``, validated; StateError (400, 404) if one is bad."""
        fields: dict[str, Any] = {}
        if not partial or "phone" in data:
            phone = data.get("phone")
            if not isinstance(phone, str) or not E164.fullmatch(phone):
                raise InvalidError("phone must be in E.164 format")  # seed 002's own example
            fields["phone"] = phone
        for name in _TEXT_FIELDS:
            if name in data:
                value = data[name]
                if value is not None and not isinstance(value, str):
                    raise InvalidError(f"{name} must be a string")
                fields[name] = value
        if "metadata" in data:
            metadata = data["metadata"]
            if metadata is not None and not isinstance(metadata, dict):
                raise InvalidError("metadata must be an object")
            fields["metadata"] = dict(metadata or {})
        campaign = fields.get("campaign_id")
        if campaign is not None and not self._campaign_exists(campaign):
            raise NotFoundError("Campaign not found")
        return fields

    def create(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Add a contact from ``data`` (``phone`` required); return it."""
        fields = self._check(data, partial=False)
        self._counter += 1
        contact_id = f"ct_{splitmix64(self._seed ^ (self._counter << 20)) & M48:012x}"
        stamp = iso(self._clock_ms())
        contact: dict[str, Any] = {
            "id": contact_id,
            "phone": fields["phone"],
            "name": fields.get("name"),
            "email": fields.get("email"),
            "metadata": fields.get("metadata", {}),
            "campaign_id": fields.get("campaign_id"),
            "status": "pending",
            "last_call_id": None,
            "created_at": stamp,
            "updated_at": stamp,
        }
        self._by_id[contact_id] = contact
        return contact

    def update(self, contact_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Change the given fields (``metadata`` is replaced whole); return the contact."""
        contact = self._by_id.get(contact_id)
        if contact is None:
            raise NotFoundError("Contact not found")
        contact.update(self._check(data, partial=True))
        contact["updated_at"] = iso(self._clock_ms())
        return contact

    def bulk_create(self, items: object) -> dict[str, Any]:
        """Add every valid contact of ``items``; the invalid ones are reported, not fatal.

        Returns ``{"created": n, "failed": [{"index": i, "detail": ...}], "contacts": [...]}``.
        """
        if not isinstance(items, list):
            raise InvalidError("contacts must be a list")
        if len(items) > MAX_BULK:
            raise InvalidError(f"at most {MAX_BULK} contacts per request")
        created: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise InvalidError("contact must be an object")
                created.append(self.create(item))
            except StateError as error:
                failed.append({"index": index, "detail": error.detail})
        return {"created": len(created), "failed": failed, "contacts": created}

    def of_campaign(self, campaign_id: str, *, default: bool) -> list[dict[str, Any]]:
        """The campaign's contacts: those naming it, plus the unassigned ones if ``default``."""
        return [
            c
            for c in self._by_id.values()
            if c["campaign_id"] == campaign_id or (default and c["campaign_id"] is None)
        ]
