"""Who may do what, decided from the verified identity, the method and the path alone.

- admin: everything.
- product and inventory writes, order status changes, search reindex: admin only.
- orders: a customer places orders only under its own email, and lists, sees and cancels
  only its own orders (by the token's email);
  `GET /api/orders` becomes `GET /api/orders/user/<email>`.
- notifications: a customer reads only the ones sent to its own email (`?email=` is set to it;
  another address is 403).
- reservations (`GET /api/inventory/reservations/{id}`, the id is the order id): only the
  order's owner.
- everything else: any authenticated user."""

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode

from api_gateway.identity import Identity
from chassis.validation import HostileJSON, loads_strict

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ORDER_ONE = re.compile(r"^/api/orders/(?P<id>[^/]+)/?$")
ORDER_CANCEL = re.compile(r"^/api/orders/(?P<id>[^/]+)/cancel/?$")
ORDER_STATUS = re.compile(r"^/api/orders/[^/]+/status/?$")
ORDERS_OF_USER = re.compile(r"^/api/orders/user/(?P<email>[^/]+)/?$")
RESERVATION = re.compile(r"^/api/inventory/reservations/(?P<id>[^/]+)/?$")


@dataclass(frozen=True)
class Allow:
    pass


@dataclass(frozen=True)
class Deny:
    detail: str


@dataclass(frozen=True)
class Rewrite:
    path: str
    # The query string to send instead of the caller's (None: the caller's, unchanged).
    query: str | None = None


@dataclass(frozen=True)
class RequireOwnEmail:
    """Allowed once the order in the body is placed under the caller's own email."""


@dataclass(frozen=True)
class RequireOrderOwner:
    """Allowed once order-service says the order's customer_email is the caller's."""

    order_id: str


Decision = Allow | Deny | Rewrite | RequireOwnEmail | RequireOrderOwner

ADMIN_ONLY = "This action needs the admin role."


def decide(identity: Identity, method: str, path: str, segment: str, query: str = "") -> Decision:
    if identity.is_admin:
        return Allow()
    if segment in ("products", "inventory") and method in WRITES:
        return Deny(ADMIN_ONLY)
    if segment == "search" and path.rstrip("/") == "/api/search/reindex":
        return Deny(ADMIN_ONLY)
    if segment == "orders":
        return _orders(identity, method, path)
    if segment == "inventory" and method == "GET" and (held := RESERVATION.match(path)):
        return RequireOrderOwner(held["id"])
    if segment == "notifications":
        return _notifications(identity, path, query)
    return Allow()


def _notifications(identity: Identity, path: str, query: str) -> Decision:
    if not identity.email:
        return Deny("The access token carries no email, so no notification can be matched to it.")
    pairs = parse_qsl(query, keep_blank_values=True)
    asked = {value.lower() for name, value in pairs if name == "email"}
    if asked - {identity.email.lower()}:
        return Deny("A customer sees only its own notifications.")
    # Without ?email= the service would list everyone's: pin it to the caller's.
    kept = [(name, value) for name, value in pairs if name != "email"]
    return Rewrite(path, urlencode([*kept, ("email", identity.email)]))


def _orders(identity: Identity, method: str, path: str) -> Decision:
    if ORDER_STATUS.match(path):
        return Deny(ADMIN_ONLY)
    if "customer" not in identity.roles:
        return Deny("Orders need the customer role.")
    if not identity.email:
        return Deny("The access token carries no email, so no order can be matched to it.")
    if path.rstrip("/") == "/api/orders":
        if method == "GET":
            return Rewrite(f"/api/orders/user/{quote(identity.email, safe='@')}")
        if method == "POST":
            return RequireOwnEmail()
        return Deny(ADMIN_ONLY)
    if mine := ORDERS_OF_USER.match(path):
        if method == "GET" and unquote(mine["email"]).lower() == identity.email.lower():
            return Allow()
        return Deny("A customer sees only its own orders.")
    if method == "PATCH" and (cancel := ORDER_CANCEL.match(path)):
        return RequireOrderOwner(cancel["id"])
    if method == "GET" and (one := ORDER_ONE.match(path)):
        return RequireOrderOwner(one["id"])
    return Deny(ADMIN_ONLY)


def places_own_order(identity: Identity, body: bytes) -> bool:
    """False only for a JSON order naming another customer; malformed JSON goes on to
    order-service, whose validation answers it. Raises HostileJSON (a 400 here) for a body no
    service accepts (answered 422): NaN, 1e400, lone surrogates, nesting too deep."""
    try:
        order = loads_strict(body)
    except HostileJSON:
        raise
    except ValueError:
        return True
    return not isinstance(order, dict) or "customer_email" not in order or owns(identity, order)


def owns(identity: Identity, order: object) -> bool:
    email = order.get("customer_email") if isinstance(order, dict) else None
    return (
        isinstance(email, str)
        and identity.email is not None
        and email.lower() == identity.email.lower()
    )
