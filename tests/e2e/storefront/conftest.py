"""Browser journeys through the storefront: headless Chromium (Debian's, driven by Playwright
from PyPI through its executable path) against the real fleet of tests/e2e/conftest.py.
Each test that fails leaves a screenshot of every page it opened in
.local/test/storefront-screenshots/."""

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from devstack.browser import LAUNCH_ARGS, chromium_executable

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / ".local" / "test" / "storefront-screenshots"
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session", autouse=True)
def built_shop() -> None:
    # The gateways serve the checkout's storefront/dist: `make test` builds it first.
    if not (ROOT / "storefront" / "dist" / "index.html").is_file():
        pytest.fail("the storefront is not built: run `make storefront` (make test does)")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_executable(), args=list(LAUNCH_ARGS), headless=True
    )
    yield browser
    browser.close()


OpenPage = Callable[[str], Page]


@pytest.fixture
def open_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[OpenPage]:
    """`open_page(url)`: a page in a fresh browser context (its own storage: another shopper)."""
    contexts: list[BrowserContext] = []

    def open_(url: str) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto(url)
        return page

    yield open_
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                path = SCREENSHOTS / f"{request.node.name}-{n}-{m}.png"
                try:
                    page.screenshot(path=str(path), full_page=True)
                    print(f"screenshot of {page.url}: {path}")
                except Exception as exc:  # a crashed page must not hide the test's own failure
                    print(f"no screenshot of {page.url}: {exc}")
    for context in contexts:
        context.close()


@dataclass(frozen=True)
class ShopProduct:
    id: str
    name: str
    price: float
    category: str


# Names no other test uses; prices chosen so sums show exact cents (10.10 + 20.20 = 30.30).
CATALOG = [
    ("Nimbus Wireless Headphones", 129.99, "Electronics", ["audio", "headphones", "wireless"], 40),
    ("Quasar Mechanical Keyboard", 89.50, "Electronics", ["keyboard", "wireless"], 25),
    ("Lumen Reading Lamp", 10.10, "Home", ["lamp", "light"], 30),
    ("Cedar Writing Desk", 20.20, "Home", ["desk", "wood"], 30),
    ("Orbit Travel Mug", 15.00, "Home", ["mug", "travel"], 50),
    ("Trailblazer Hiking Boots", 74.95, "Sports", ["boots", "hiking"], 2),
    ("Summit Trekking Poles", 39.00, "Sports", ["hiking", "poles"], 0),
    ("Comet Yoga Mat", 25.00, "Sports", ["yoga", "mat"], 50),
]


def eventually(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.3)


@pytest.fixture(scope="session")
def shop_catalog(shop_url: str, ai_url: str) -> dict[str, ShopProduct]:
    """The products the journeys shop for, created through the gateway with their stock, and
    waited for until search-service and ai-service have them (product-updated events)."""
    products: dict[str, ShopProduct] = {}
    with httpx.Client(base_url=shop_url, timeout=15) as api:
        for name, price, category, tags, stock in CATALOG:
            created = api.post(
                "/api/products",
                json={
                    "name": name,
                    "description": f"{name}: a storefront test product.",
                    "price": price,
                    "category": category,
                    "tags": tags,
                    "stock_quantity": stock,
                },
            )
            assert created.status_code == 201, created.text
            product = ShopProduct(created.json()["id"], name, price, category)
            stocked = api.post(
                "/api/inventory",
                json={"product_id": product.id, "product_name": name, "quantity": stock},
            )
            assert stocked.status_code == 201, stocked.text
            products[name] = product

        def indexed() -> bool:
            reply = api.get("/api/search/filter", params={"size": 100})
            ok = reply.status_code == 200
            found = {hit["id"] for hit in reply.json()["hits"]} if ok else set()
            return all(p.id in found for p in products.values())

        eventually(indexed, "the shop's products reaching search")

        def recommended() -> bool:
            reply = api.get(
                "/api/ai/recommendations", params={"product_name": "Nimbus Wireless Headphones"}
            )
            names = {r["name"] for r in reply.json().get("recommendations", [])}
            return reply.status_code == 200 and "Quasar Mechanical Keyboard" in names

        eventually(recommended, "the shop's products reaching the assistant's catalog")
    return products


def sign_in(page: Page, username: str) -> None:
    """The real flow: the shop's button, the provider's login form, back with a code + PKCE."""
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(username)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(username)


def card(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(".product-card", has=page.get_by_role("heading", name=name, exact=True))


def order_id_from(page: Page) -> str:
    page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}"))
    return page.url.split("/orders/")[1].split("?")[0]
