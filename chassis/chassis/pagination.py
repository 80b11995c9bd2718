"""One way to page a list: the same parameter names everywhere, and every capped list says so.

Parameters (``pagination(...)``, a FastAPI dependency giving a ``PageRequest``):

- ``page`` (1-based) and ``page_size`` are the names of every list endpoint;
- the names lists had before are aliases, accepted everywhere: ``limit`` and ``size`` mean
  ``page_size``; ``offset`` (items to skip, instead of ``page``) where the list can start at
  any item (orders, inventory, notifications). Two names for the page size with different
  values, or ``page`` with ``offset``, are a 422 naming the parameter.

The envelope: every list answers ``X-Total-Count`` (items in all pages) and an RFC 8288
``Link`` header (``rel="first"``, ``"next"``, ``"prev"``), so nothing is cut off silently;
the body keeps the shape its clients read (a bare array, or an object that carries ``total``,
``page`` and ``page_size`` beside the items). Links are relative (path and query only):
resolved against the URL the client called, they work through the gateway and never name a
service's own address. They repeat the names the request used (``?limit=2&offset=4`` links
to ``?limit=2&offset=6``; ``?limit=2`` alone is an offset request), else the canonical ones.
"""

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Query, Request
from starlette.datastructures import URL

from chassis.api import invalid_query

TOTAL_COUNT = "X-Total-Count"
# Documented on every list route (FastAPI ``responses={200: {"headers": ...}}``).
PAGE_HEADERS_DOC: dict[str, dict[str, object]] = {
    TOTAL_COUNT: {"description": "Items in all pages", "schema": {"type": "integer"}},
    "Link": {
        "description": 'RFC 8288 links to the other pages: rel="next", "prev", "first"',
        "schema": {"type": "string"},
    },
}
SIZE_ALIASES = ("limit", "size")
PAGING_NAMES = ("page", "page_size", *SIZE_ALIASES, "offset")


@dataclass(frozen=True)
class PageRequest:
    """What the client asked for: ``page_size`` items from ``offset`` (``page`` is the page
    that offset falls in; the two agree unless the client gave an ``offset`` itself)."""

    page: int
    page_size: int
    offset: int
    url: URL
    # The names the request used, for the links and for sentences about them.
    size_name: str = "page_size"
    position_name: str = "page"

    def headers(self, total: int) -> dict[str, str]:
        """``X-Total-Count`` and ``Link`` for a list of ``total`` items in all."""
        size = self.page_size
        if self.position_name == "offset":
            links = [self._link(0, "first")]
            if self.offset + size < total:
                links.append(self._link(self.offset + size, "next"))
            if self.offset > 0:
                previous = max(0, min(self.offset - size, max(total - size, 0)))
                links.append(self._link(previous, "prev"))
        else:
            links = [self._link(1, "first")]
            if self.page * size < total:
                links.append(self._link(self.page + 1, "next"))
            if self.page > 1:
                last = max(1, -(-total // size))
                links.append(self._link(min(self.page - 1, last), "prev"))
        return {TOTAL_COUNT: str(total), "Link": ", ".join(links)}

    def _link(self, position: int, rel: str) -> str:
        target = self.url.remove_query_params(PAGING_NAMES)
        if self.position_name == "offset":
            params = {self.size_name: self.page_size, "offset": position}
        else:
            params = {"page": position, self.size_name: self.page_size}
        target = target.include_query_params(**params)
        return f'<{target.path}?{target.query}>; rel="{rel}"'


def offset_pagination(
    default_size: int, max_size: int, max_offset: int = 10_000_000
) -> Callable[..., Awaitable[PageRequest]]:
    """`pagination` for a list that can start at any item (`offset` accepted beside
    `page`/`page_size`), with `page` and the first item asked for both at most `max_offset`."""
    return pagination(
        default_size=default_size,
        max_size=max_size,
        max_page=max_offset,
        offsets=True,
        max_offset=max_offset,
    )


def pagination(
    *,
    default_size: int,
    max_size: int,
    max_page: int,
    offsets: bool = False,
    max_offset: int = 10_000_000,
) -> Callable[..., Awaitable[PageRequest]]:
    """The dependency for one list endpoint:
    ``Annotated[PageRequest, Depends(pagination(default_size=10, max_size=100, ...))]``.
    ``offsets=True`` also accepts ``offset`` (the list can start at any item); ``page`` is at
    most ``max_page`` and the first item asked for at most ``max_offset``."""
    size_doc = f"Items per page (at most {max_size})"
    size = Annotated[int, Query(ge=1, le=max_size, description=size_doc)]
    alias = Annotated[
        int | None, Query(ge=1, le=max_size, description="Accepted alias of page_size")
    ]
    parameters = [
        inspect.Parameter(
            "page",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[int, Query(ge=1, le=max_page, description="1-based page")],
            default=1,
        ),
        inspect.Parameter(
            "page_size", inspect.Parameter.KEYWORD_ONLY, annotation=size, default=default_size
        ),
        *(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=alias, default=None)
            for name in SIZE_ALIASES
        ),
    ]
    if offsets:
        offset_doc = "Accepted instead of page: items to skip"
        parameters.append(
            inspect.Parameter(
                "offset",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[
                    int | None, Query(ge=0, le=max_offset, description=offset_doc)
                ],
                default=None,
            )
        )

    async def page_request(request: Request, **given: int | None) -> PageRequest:
        query = request.query_params
        size_name, page_size = "page_size", given["page_size"]
        for name in ("page_size", *SIZE_ALIASES):
            if name not in query or given.get(name) is None:
                continue
            value = given[name]
            assert value is not None
            if size_name in query and value != page_size:
                raise invalid_query(
                    name,
                    f"{name} ({value}) and {size_name} ({page_size}) both give the page size; "
                    "give one of them",
                    value,
                )
            size_name, page_size = name, value
        assert page_size is not None
        page = given["page"]
        assert page is not None
        offset = given.get("offset")
        if offset is not None and "page" in query:
            raise invalid_query("offset", "give page or offset, not both", offset)
        position_name = "page"
        if offset is not None or (offsets and size_name == "limit" and "page" not in query):
            position_name = "offset"
        if offset is None:
            offset = (page - 1) * page_size
            if offset > max_offset:
                raise invalid_query(
                    "page",
                    f"page {page} of {page_size} starts past item {max_offset}; "
                    "narrow the query instead of paging this deep",
                    page,
                )
        else:
            page = offset // page_size + 1
        return PageRequest(page, page_size, offset, request.url, size_name, position_name)

    page_request.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
            *parameters,
        ]
    )
    return page_request
