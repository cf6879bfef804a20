"""The pager behind Client.list, against an in-memory collection that pages like the apiserver."""

from __future__ import annotations

import attrs
import pytest

from kaito.runtime.errors import Gone
from kaito.runtime.pager import ObjectList, list_all


@attrs.define
class Collection:
    """Pages ``items`` as the apiserver does: a continue token holds the offset; a token can
    be made to expire (410) as after a compaction; every request is recorded."""

    items: list[str]
    resource_version: str = "42"
    expire_tokens: bool = False
    requests: list[tuple[int | None, str | None, str | None]] = attrs.field(factory=list)

    async def page(
        self, *, limit: int | None, continue_token: str | None, resource_version: str | None
    ) -> ObjectList:
        self.requests.append((limit, continue_token, resource_version))
        if continue_token is not None and resource_version is not None:
            raise AssertionError("the apiserver refuses a resourceVersion with a continue token")
        if continue_token is not None and self.expire_tokens:
            raise Gone(410, "Expired", "The provided continue parameter is too old")
        start = int(continue_token or 0)
        end = len(self.items) if not limit else min(start + limit, len(self.items))
        return ObjectList(
            [{"metadata": {"name": name}} for name in self.items[start:end]],
            self.resource_version,
            continue_token=str(end) if end < len(self.items) else None,
        )


def names(result: ObjectList) -> list[str]:
    return [item["metadata"]["name"] for item in result.items]


async def test_pages_are_joined_and_only_the_first_asks_for_the_resource_version() -> None:
    collection = Collection([f"o{i}" for i in range(5)])
    result = await list_all(collection.page, page_size=2, resource_version="0")
    assert names(result) == ["o0", "o1", "o2", "o3", "o4"]
    assert result.resource_version == "42" and result.continue_token is None
    assert result.paginated
    assert collection.requests == [(2, None, "0"), (2, "2", None), (2, "4", None)]


async def test_one_page_is_not_paginated_and_no_page_size_means_one_request() -> None:
    collection = Collection(["a", "b"])
    assert not (await list_all(collection.page, page_size=2, resource_version=None)).paginated
    result = await list_all(collection.page, page_size=None, resource_version="17")
    assert names(result) == ["a", "b"] and not result.paginated
    assert collection.requests[-1] == (None, None, "17")


async def test_an_expired_continue_token_falls_back_to_one_full_list_at_the_same_rv() -> None:
    collection = Collection([f"o{i}" for i in range(5)], expire_tokens=True)
    result = await list_all(collection.page, page_size=2, resource_version="7")
    assert names(result) == ["o0", "o1", "o2", "o3", "o4"]  # not o0, o1 twice
    assert result.paginated and result.continue_token is None
    assert collection.requests == [(2, None, "7"), (2, "2", None), (None, None, "7")]


async def test_a_410_on_the_first_page_is_the_callers() -> None:
    class Compacted(Collection):
        async def page(
            self, *, limit: int | None, continue_token: str | None, resource_version: str | None
        ) -> ObjectList:
            self.requests.append((limit, continue_token, resource_version))
            raise Gone(410, "Expired", "too old resource version")

    collection = Compacted(["a"])
    with pytest.raises(Gone):
        await list_all(collection.page, page_size=2, resource_version="3")
    assert len(collection.requests) == 1, "no fallback list for an RV the caller chose"
