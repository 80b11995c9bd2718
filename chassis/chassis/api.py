"""The pieces every service's HTTP routes are made of, written once.

- ``service_dependency(kind, attribute)``: the dependency handing a route the service object
  its lifespan put on ``app.state.<attribute>`` (async: it never takes a thread-pool hop).
- ``uuid_path(name, what)``: a path segment read as a UUID; anything else is 400
  ``Invalid <what> id: '<segment>' is not a UUID`` (not FastAPI's 422: a malformed id in a
  URL is a bad address, as the original design answered).
- ``Money``: a ``Decimal`` with exactly two decimals, written as a JSON number with its own
  digits (``1999.98``, ``10.00``, ``0.30``), never through a binary float.
- ``exact_reply(Model, value)``: the one way to answer with a model that holds ``Money``: the
  value is validated against the route's model (dumped, then validated, as FastAPI does for
  the routes that return their model), then written by ``ExactJSONResponse``.
- ``invalid_query(name, sentence, value)``: a 422 shaped like FastAPI's own, for rules that
  span several query parameters.

Pagination (parameter names, aliases, ``X-Total-Count``/``Link``) is ``chassis.pagination``.
"""

import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any, TypeVar, cast

from fastapi import Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, TypeAdapter, WithJsonSchema

from chassis.errors import BadRequest
from chassis.exact_json import ExactJSONResponse

S = TypeVar("S")

CENT = Decimal("0.01")


def service_dependency(kind: type[S], attribute: str) -> Callable[[Request], Awaitable[S]]:
    """``Annotated[OrderService, Depends(service_dependency(OrderService, "orders"))]``:
    the object the service's setup stored as ``app.state.orders``."""

    async def service(request: Request) -> S:
        return cast(S, getattr(request.app.state, attribute))

    service.__name__ = f"{attribute}_service"
    service.__qualname__ = service.__name__
    return service


def uuid_path(
    name: str, what: str, description: str | None = None
) -> Callable[..., Awaitable[uuid.UUID]]:
    """The dependency reading path parameter ``name`` as a UUID:
    ``Annotated[uuid.UUID, Depends(uuid_path("order_id", "order"))]``. A malformed one is
    400 ``Invalid order id: 'abc' is not a UUID`` (the segment cut to 64 characters)."""

    async def parse(**values: str) -> uuid.UUID:
        text = values[name]
        try:
            return uuid.UUID(text)
        except ValueError:
            raise BadRequest(f"Invalid {what} id: {text[:64]!r} is not a UUID") from None

    segment = Annotated[str, Path(description=description or f"{what.capitalize()} id (a UUID)")]
    parse.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=segment)]
    )
    parse.__name__ = f"parse_{name}"
    parse.__qualname__ = parse.__name__
    return parse


def _two_decimals(value: Decimal) -> Decimal:
    # Amounts are stored in cents (NUMERIC(_, 2), integer cents): this only writes the zeros
    # (0.3 -> 0.30, 10 -> 10.00). Requests that carry more digits are refused by their own
    # field (decimal_places=2, a 422), so nothing is ever rounded on its way out in practice;
    # were it, it would be half to even, as everywhere else a price is cut to cents.
    if not value.is_finite():
        raise ValueError("must be a finite amount")
    try:
        return value.quantize(CENT)
    except InvalidOperation:
        raise ValueError("is too large an amount") from None


# A reply's money: a Decimal with exactly two decimals, written as a JSON number by
# `exact_reply` (the OpenAPI document says "number").
Money = Annotated[
    Decimal,
    AfterValidator(_two_decimals),
    WithJsonSchema({"type": "number", "examples": [999.99]}),
]


@lru_cache(maxsize=256)
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def _plain(value: Any) -> Any:
    """Models as their fields, so validation checks every one (pydantic takes an instance of
    the right class as it is)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python")
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def exact_reply(
    model: Any,
    value: Any,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> ExactJSONResponse:
    """``value`` checked against ``model`` (the route's ``response_model``: a model class or
    e.g. ``list[Order]``) and written with its money exact. A value that does not fit its
    model is a bug: pydantic's ValidationError, answered 500 by the chassis."""
    adapter = _adapter(model)
    checked = adapter.validate_python(_plain(value))
    return ExactJSONResponse(
        adapter.dump_python(checked, mode="python"),
        status_code=status_code,
        headers=dict(headers) if headers else None,
    )


def invalid_query(name: str, sentence: str, value: Any) -> RequestValidationError:
    """A 422 shaped like FastAPI's own (``loc`` ``["query", name]``), for rules that span
    several query parameters (``minPrice`` above ``maxPrice``, ``page`` and ``offset``)."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": sentence, "input": value}]
    )
