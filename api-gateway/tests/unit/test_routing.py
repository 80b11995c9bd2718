"""Upstream instances from configuration, and their round-robin turn."""

import pytest
from pydantic import ValidationError

from api_gateway.config import Settings
from api_gateway.routing import upstreams


def test_a_comma_separated_url_gives_one_instance_per_url() -> None:
    routes = upstreams(
        Settings(order_service_url=" http://a:8002/, http://b:8002 ,", _env_file=None)
    )  # type: ignore[call-arg]
    assert routes["orders"].instances == ("http://a:8002", "http://b:8002")
    assert routes["products"].instances == ("http://127.0.0.1:8001",)


def test_instances_take_turns_each_rotation_starting_one_further() -> None:
    orders = upstreams(Settings(order_service_url="http://a,http://b,http://c", _env_file=None))[
        "orders"
    ]  # type: ignore[call-arg]
    assert [orders.rotation() for _ in range(4)] == [
        ["http://a", "http://b", "http://c"],
        ["http://b", "http://c", "http://a"],
        ["http://c", "http://a", "http://b"],
        ["http://a", "http://b", "http://c"],
    ]


@pytest.mark.parametrize("value", ["", " , ", "order-service:8002", "http://a,ftp://b"])
def test_an_upstream_without_a_usable_url_is_refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="order_service_url"):
        Settings(order_service_url=value, _env_file=None)  # type: ignore[call-arg]
