"""ai-service stopped: the shop still browses and checks out, and says the assistant is away."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from devstack import start_service

from ..conftest import ai_env, shop_gateway_env
from .conftest import OpenPage, ShopProduct, card, order_id_from


@pytest.fixture
def shop_without_ai(
    local_redis, local_kafka, fleet_topics, otlp, product_url, fleet_upstreams, shop_catalog
) -> Iterator[str]:
    """A gateway whose ai-service ran and was then stopped (its own copy: the session's stays)."""
    with start_service(
        "ai-service", env=ai_env(local_kafka, fleet_topics, otlp, product_url), profile="test"
    ) as ai_url:
        upstreams = {**fleet_upstreams, "AI_SERVICE_URL": ai_url}
    with start_service(
        "api-gateway", env=shop_gateway_env(local_redis, otlp, upstreams), profile="test"
    ) as url:
        yield url


def test_with_the_assistant_stopped_the_shop_browses_checks_out_and_says_it_is_away(
    shop_without_ai: str, shop_catalog: dict[str, ShopProduct], open_page: OpenPage
) -> None:
    page = open_page(shop_without_ai + "/")
    expect(card(page, "Comet Yoga Mat")).to_be_visible()

    page.get_by_role("button", name="Ask the assistant").click()
    page.get_by_label("Message to the assistant").fill("a yoga mat")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("chat-log")).to_contain_text(
        "The shopping assistant is away right now."
    )

    card(page, "Comet Yoga Mat").get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Comet Yoga Mat")
    expect(page.get_by_text("Recommendations are unavailable right now.")).to_be_visible()
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("link", name=re.compile("^Cart")).click()
    page.get_by_label("Name").fill("Alan Turing")
    page.get_by_label("Email").fill("alan@example.com")
    page.get_by_role("button", name="Place order").click()
    order_id_from(page)
    expect(page.get_by_test_id("order-number")).to_have_text(re.compile(r"^ORD-"))
    expect(page.get_by_test_id("order-status")).to_have_text("CONFIRMED")
    # No raw JSON or stack trace anywhere on the page.
    assert "Traceback" not in page.content()
    assert '{"detail"' not in page.content()
