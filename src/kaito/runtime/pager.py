"""Paging through a list: client-go's ``tools/pager`` for :meth:`Client.list
<kaito.runtime.client.Client.list>`, apart from any HTTP so it is tested without a server.

The rules (``ListPager.list`` with ``FullListIfExpired``):

* the first page is asked for at the requested ``resourceVersion``; later pages carry only
  the continue token (the server refuses a resourceVersion next to one);
* an expired continue token (410 on page 2 or later: the RV the first page established was
  compacted meanwhile) falls back to one unpaginated list at the requested resourceVersion;
  a 410 on the first page is the caller's (the reflector relists at ``""``);
* the result says whether the server paged (``paginated``): the reflector keeps paging a
  resource once it has, as client-go's does.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

import attrs

from kaito.runtime.errors import Gone
from kaito.runtime.resources import Object


@attrs.frozen
class ObjectList:
    """A list response: the items and the collection's resourceVersion."""

    items: list[Object]
    resource_version: str
    continue_token: str | None = None
    """Set on a page the server cut short; pass it back for the next page."""
    paginated: bool = False
    """A whole list (:func:`list_all`) that took more than one page."""


class PageFunc(Protocol):
    """Fetches one page (``Client.list_page`` with the type and selectors bound)."""

    def __call__(
        self, *, limit: int | None, continue_token: str | None, resource_version: str | None
    ) -> Awaitable[ObjectList]: ...


async def list_all(
    page: PageFunc, *, page_size: int | None, resource_version: str | None
) -> ObjectList:
    """Every item, ``page_size`` at a time (``None`` or 0: in one request)."""
    items: list[Object] = []
    token: str | None = None
    paginated = False
    while True:
        try:
            result = await page(
                limit=page_size or None,
                continue_token=token,
                resource_version=resource_version if token is None else None,
            )
        except Gone:
            if token is None:
                raise
            full = await page(limit=None, continue_token=None, resource_version=resource_version)
            return attrs.evolve(full, continue_token=None, paginated=True)
        items.extend(result.items)
        if not result.continue_token:
            return ObjectList(items, result.resource_version, paginated=paginated)
        paginated = True
        token = result.continue_token
