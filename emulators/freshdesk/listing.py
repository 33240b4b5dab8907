"""``GET /api/v2/tickets``: Freshdesk's filters, ordering, the 30-day default window and page links.

Without ``updated_since`` (and without a named ``filter``) Freshdesk lists only tickets **created in the
last 30 days** — a sync that forgets ``updated_since`` silently misses older tickets, and so does it here.

Matches are produced lazily in the requested order and remembered per query (until the next write),
so walking page after page costs O(page) per request, not a scan of the whole desk.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from emulators.common.clock import parse_iso
from emulators.freshdesk.desk import FreshdeskDesk, validation_failed

ORDER_BY = ("created_at", "due_by", "updated_at", "status")
FILTERS = ("new_and_my_open", "watching", "spam", "deleted")
LIST_PARAMS = {
    "filter",
    "requester_id",
    "email",
    "company_id",
    "updated_since",
    "order_by",
    "order_type",
    "include",
    "page",
    "per_page",
    "unique_external_id",
}
WINDOW = 30 * 86400


class TicketQueries:
    def __init__(self, desk: FreshdeskDesk) -> None:
        self.desk = desk
        self._cache: dict[tuple[Any, ...], tuple[Iterator[int], list[int]]] = {}

    def page(self, params: dict[str, str], page: int, per_page: int) -> tuple[list[int], bool]:
        """Ids on ``page`` and whether a next page exists."""
        key = (
            tuple(sorted((k, v) for k, v in params.items() if k not in ("page", "per_page"))),
            self.desk.tickets.version,
        )
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = (self._matches(params), [])
        source, seen = self._cache[key]
        want = page * per_page + 1
        if len(seen) < want:
            seen.extend(itertools.islice(source, want - len(seen)))
        return seen[(page - 1) * per_page : page * per_page], len(seen) > page * per_page

    def _matches(self, params: dict[str, str]) -> Iterator[int]:
        tickets = self.desk.tickets
        unknown = [k for k in params if k not in LIST_PARAMS]
        if unknown:
            raise validation_failed(
                *[(k, "Unexpected/invalid field in request", "invalid_field") for k in unknown]
            )
        order_by = params.get("order_by", "created_at")
        order_type = params.get("order_type", "desc")
        if order_by not in ORDER_BY:
            raise validation_failed(
                ("order_by", f"It should be one of these values: '{','.join(ORDER_BY)}'", "invalid_value")
            )
        if order_type not in ("asc", "desc"):
            raise validation_failed(
                ("order_type", "It should be one of these values: 'asc,desc'", "invalid_value")
            )
        named = params.get("filter")
        if named is not None and named not in FILTERS:
            raise validation_failed(
                ("filter", f"It should be one of these values: '{','.join(FILTERS)}'", "invalid_value")
            )
        since = _since(params.get("updated_since"))
        keep = self._predicate(params, named, since)
        deleted = named == "deleted"
        if order_by == "updated_at":
            changes = tickets.changes_desc() if order_type == "desc" else tickets.changed_since(since or 0)
            ids: Iterator[int] = (i for _, i in changes if tickets.is_deleted(i) == deleted)
        else:
            base = tickets.deleted_ids() if deleted else tickets.ids
            ids = iter(base) if order_type == "asc" else reversed(base)
            if order_by != "created_at":
                rows = [(self._row(i), i) for i in ids]
                rows.sort(key=lambda r: (r[0][order_by] or "", r[1]), reverse=order_type == "desc")
                ids = iter([i for _, i in rows])
        return (i for i in ids if keep(i))

    def _row(self, ticket_id: int) -> dict[str, Any]:
        row = self.desk.tickets.get(ticket_id) or self.desk.tickets.get_deleted(ticket_id)
        assert row is not None
        return row

    def _predicate(
        self, params: dict[str, str], named: str | None, since: float | None
    ) -> Callable[[int], bool]:
        desk = self.desk
        window_start = desk.now() - WINDOW if since is None and named is None else None
        checks: list[Callable[[int], bool]] = []
        if window_start is not None:
            checks.append(lambda i: desk.created_of(i) >= window_start)
        if since is not None:
            checks.append(lambda i: desk.tickets.stamp(i) >= since)
        if named == "spam":
            checks.append(lambda i: bool(self._row(i)["spam"]))
        elif named == "new_and_my_open":
            checks.append(
                lambda i: self._row(i)["status"] == 2 and self._row(i)["responder_id"] in (None, desk.me)
            )
        elif named == "watching":
            checks.append(lambda i: False)
        elif named != "deleted":
            checks.append(lambda i: not self._row(i)["spam"] if i in desk.written else True)
        for field in ("requester_id", "company_id"):
            if field in params:
                wanted = int(params[field]) if params[field].isdigit() else -1
                checks.append(lambda i, f=field, w=wanted: self._row(i)[f] == w)
        if "email" in params:
            contact = desk.contact_by_email(params["email"])
            checks.append(lambda i: self._row(i)["requester_id"] == contact)
        return lambda i: all(check(i) for check in checks)


def _since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise validation_failed(
            ("updated_since", "It should be in the 'valid date time' format", "invalid_date")
        ) from exc
