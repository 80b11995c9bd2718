"""Capped lists say so: ``X-Total-Count`` and an RFC 8288 ``Link`` header.

Every list endpoint returns at most one page; these headers tell the client how many items
there are in all and where the next (and previous) page is, so nothing is cut off silently.
Links are relative (path and query only): resolved against the URL the client called, they
work through the gateway and never name a service's own address.
"""

from collections.abc import Mapping

from starlette.datastructures import URL

TOTAL_COUNT = "X-Total-Count"
# Documented on every list route (FastAPI ``responses={200: {"headers": ...}}``).
PAGE_HEADERS_DOC: dict[str, dict[str, object]] = {
    TOTAL_COUNT: {"description": "Items in all pages", "schema": {"type": "integer"}},
    "Link": {
        "description": 'RFC 8288 links to the other pages: rel="next", "prev", "first"',
        "schema": {"type": "string"},
    },
}


def _relative(url: URL, **params: int) -> str:
    target = url.include_query_params(**params)
    return f"{target.path}?{target.query}" if target.query else target.path


def offset_page_headers(url: URL, *, total: int, limit: int, offset: int) -> dict[str, str]:
    """For ``?limit=&offset=`` lists."""
    links = [f'<{_relative(url, limit=limit, offset=0)}>; rel="first"']
    if offset + limit < total:
        links.append(f'<{_relative(url, limit=limit, offset=offset + limit)}>; rel="next"')
    if offset > 0:
        previous = max(0, min(offset - limit, max(total - limit, 0)))
        links.append(f'<{_relative(url, limit=limit, offset=previous)}>; rel="prev"')
    return {TOTAL_COUNT: str(total), "Link": ", ".join(links)}


def numbered_page_headers(
    url: URL, *, total: int, page: int, page_size: int, names: Mapping[str, str] | None = None
) -> dict[str, str]:
    """For ``?page=&page_size=`` lists (1-based pages); ``names`` renames the two query
    parameters (e.g. ``{"page_size": "size"}``)."""
    names = names or {}
    page_name, size_name = names.get("page", "page"), names.get("page_size", "page_size")

    def link(number: int, rel: str) -> str:
        return f'<{_relative(url, **{page_name: number, size_name: page_size})}>; rel="{rel}"'

    links = [link(1, "first")]
    if page * page_size < total:
        links.append(link(page + 1, "next"))
    if page > 1:
        last = max(1, -(-total // page_size))
        links.append(link(min(page - 1, last), "prev"))
    return {TOTAL_COUNT: str(total), "Link": ", ".join(links)}
