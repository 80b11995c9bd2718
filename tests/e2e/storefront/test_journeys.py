"""A shopper and an admin in headless Chromium, against the real fleet (nothing mocked)."""

import re

import httpx
from playwright.sync_api import expect

from devstack.oidc import password_grant

from .conftest import OpenPage, ShopProduct, card, order_id_from, sign_in


def test_a_shopper_browses_filters_searches_with_a_typo_and_uses_autocomplete(
    shop_url: str, shop_catalog: dict[str, ShopProduct], open_page: OpenPage
) -> None:
    page = open_page(shop_url + "/")
    expect(page).to_have_title("Fleet Shop")
    for name in ("Nimbus Wireless Headphones", "Trailblazer Hiking Boots"):
        expect(card(page, name)).to_be_visible()
    # Availability from inventory-service on the card.
    expect(card(page, "Trailblazer Hiking Boots").get_by_test_id("availability")).to_have_text(
        "Only 2 left"
    )

    # Category facet with its count (search-service /filter), then a price range.
    facets = page.get_by_test_id("category-facets")
    expect(facets.get_by_role("link", name=re.compile(r"^Sports \(\d+\)$"))).to_be_visible()
    facets.get_by_role("link", name=re.compile(r"^Sports ")).click()
    expect(page).to_have_url(re.compile(r"category=Sports"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sports")
    expect(card(page, "Comet Yoga Mat")).to_be_visible()
    expect(card(page, "Nimbus Wireless Headphones")).to_have_count(0)
    page.get_by_label("Min $").fill("30")
    page.get_by_label("Max $").fill("80")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"minPrice=30.*maxPrice=80"))
    expect(card(page, "Trailblazer Hiking Boots")).to_be_visible()
    expect(card(page, "Summit Trekking Poles")).to_be_visible()
    expect(card(page, "Comet Yoga Mat")).to_have_count(0)

    # Autocomplete as you type, then the product page with recommendations from ai-service.
    search = page.get_by_role("searchbox", name="Search products")
    search.press_sequentially("nimb", delay=60)
    suggestion = page.get_by_role("listbox", name="Suggestions").get_by_role(
        "link", name="Nimbus Wireless Headphones"
    )
    suggestion.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nimbus Wireless Headphones")
    expect(page.get_by_test_id("availability")).to_have_text("In stock")
    expect(page.locator(".recommendations .product-card").first).to_be_visible()

    # A typo still finds the product (fuzzy search), on the results page.
    search.fill("wireles headphnes")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=wireles"))
    expect(card(page, "Nimbus Wireless Headphones")).to_be_visible()


def test_the_assistant_proposes_products_as_cards_and_says_who_wrote_the_answer(
    shop_url: str, shop_catalog: dict[str, ShopProduct], open_page: OpenPage
) -> None:
    page = open_page(shop_url + "/")
    page.get_by_role("button", name="Ask the assistant").click()
    page.get_by_label("Message to the assistant").fill("wireless headphones")
    page.get_by_role("button", name="Send").click()
    log = page.get_by_test_id("chat-log")
    expect(log.get_by_test_id("provenance")).to_have_text(
        "Not written by a language model: these are catalog matches for your words."
    )
    log.get_by_role("link", name=re.compile("Nimbus Wireless Headphones")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nimbus Wireless Headphones")


def test_two_products_in_the_cart_survive_a_reload_with_exact_totals(
    shop_url: str, shop_catalog: dict[str, ShopProduct], open_page: OpenPage
) -> None:
    page = open_page(shop_url + "/?category=Home")
    page.get_by_role("button", name="Add Lumen Reading Lamp to cart").click()
    page.get_by_role("button", name="Add Cedar Writing Desk to cart").click()
    expect(page.get_by_test_id("cart-count")).to_have_text("2")

    page.reload()
    expect(page.get_by_test_id("cart-count")).to_have_text("2")
    page.get_by_role("link", name=re.compile("^Cart")).click()
    cart = page.get_by_test_id("cart")
    expect(cart.get_by_role("link", name="Lumen Reading Lamp")).to_be_visible()
    expect(cart.get_by_role("link", name="Cedar Writing Desk")).to_be_visible()
    expect(page.get_by_test_id("cart-total")).to_have_text("$30.30")  # 10.10 + 20.20

    page.get_by_label("Quantity of Lumen Reading Lamp").fill("3")
    page.get_by_label("Quantity of Lumen Reading Lamp").press("Enter")
    expect(page.get_by_test_id("cart-total")).to_have_text("$50.50")
    cart.locator("tr", has_text="Cedar Writing Desk").get_by_role("button", name="Remove").click()
    expect(page.get_by_test_id("cart-total")).to_have_text("$30.30")
    page.reload()
    expect(page.get_by_test_id("cart-total")).to_have_text("$30.30")


def _orders_with(gateway: str, issuer: str, email: str, product_id: str) -> list[dict]:
    admin = {"Authorization": f"Bearer {password_grant(issuer, 'admin')}"}
    reply = httpx.get(f"{gateway}/api/orders/user/{email}", headers=admin, timeout=10)
    assert reply.status_code == 200, reply.text
    return [o for o in reply.json() if any(i["product_id"] == product_id for i in o["items"])]


def test_a_signed_in_customer_checks_out_once_sees_the_emails_and_cancels(
    secured_shop_url: str,
    local_oidc: str,
    shop_catalog: dict[str, ShopProduct],
    open_page: OpenPage,
) -> None:
    mug = shop_catalog["Orbit Travel Mug"]
    email = "customer2@example.com"
    before = len(_orders_with(secured_shop_url, local_oidc, email, mug.id))

    page = open_page(secured_shop_url + "/")
    # With authentication on, the gateway answers the catalog only to a signed-in shopper.
    expect(page.get_by_text("sign in before browsing")).to_be_visible()
    sign_in(page, "customer2")
    page.get_by_role("button", name="Add Orbit Travel Mug to cart").click()
    page.get_by_role("link", name=re.compile("^Cart")).click()
    expect(page.get_by_text("Ordering as")).to_contain_text(email)

    # A double click sends the same Idempotency-Key twice: still one order.
    page.get_by_role("button", name="Place order").dblclick()
    order_id = order_id_from(page)
    number = page.get_by_test_id("order-number")
    expect(number).to_have_text(re.compile(r"^ORD-\d{8}-[A-Z0-9]{8}$"))
    order_number = number.inner_text()
    expect(page.get_by_text(f"Your order {order_number} is placed")).to_be_visible()
    expect(page.get_by_test_id("order-status")).to_have_text("CONFIRMED")
    after = _orders_with(secured_shop_url, local_oidc, email, mug.id)
    assert len(after) == before + 1, f"expected one new order, found {len(after) - before}"
    assert after[0]["id"] == order_id
    expect(page.get_by_test_id("cart-count")).to_have_count(0)

    # The confirmation email shows up under the order without a reload.
    emails = page.get_by_test_id("emails")
    expect(emails.get_by_text(f"Order confirmed: {order_number}")).to_be_visible(timeout=40_000)

    page.get_by_role("button", name="Cancel this order").click()
    expect(page.get_by_test_id("order-status")).to_have_text("CANCELLED")
    expect(emails.get_by_text(f"Order cancelled: {order_number}")).to_be_visible(timeout=40_000)

    page.get_by_role("link", name="My orders").click()
    row = page.get_by_test_id("orders").locator("tr", has_text=order_number)
    expect(row).to_contain_text("CANCELLED")


def test_buying_more_than_is_in_stock_is_refused_in_a_sentence(
    shop_url: str, shop_catalog: dict[str, ShopProduct], open_page: OpenPage
) -> None:
    boots = shop_catalog["Trailblazer Hiking Boots"]
    page = open_page(f"{shop_url}/product/{boots.id}")
    expect(page.get_by_test_id("availability")).to_have_text("Only 2 left")
    page.get_by_label("Quantity").fill("3")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("link", name=re.compile("^Cart")).click()
    # AUTH_ENABLED=false: a name and an email are enough.
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_test_id("checkout-error")).to_have_text(
        "Only 2 left of Trailblazer Hiking Boots."
    )
    expect(page).to_have_url(re.compile(r"/cart$"))


def test_an_admin_restocks_and_the_shopper_sees_the_new_availability(
    shop_url: str,
    secured_shop_url: str,
    shop_catalog: dict[str, ShopProduct],
    open_page: OpenPage,
) -> None:
    poles = shop_catalog["Summit Trekking Poles"]
    shopper = open_page(f"{shop_url}/product/{poles.id}")
    expect(shopper.get_by_test_id("availability")).to_have_text("Out of stock")
    expect(shopper.get_by_role("button", name="Add to cart")).to_be_disabled()

    admin = open_page(secured_shop_url + "/")
    sign_in(admin, "admin")
    admin.get_by_role("link", name="Admin").click()
    row = admin.get_by_test_id("admin-products").locator(f'tr[data-product-id="{poles.id}"]')
    expect(row.get_by_test_id("stock-available")).to_have_text("0")
    row.get_by_label("Units for Summit Trekking Poles").fill("3")
    row.get_by_role("button", name="Restock Summit Trekking Poles").click()
    expect(row.get_by_test_id("stock-available")).to_have_text("3")

    shopper.reload()
    expect(shopper.get_by_test_id("availability")).to_have_text("Only 3 left")
    expect(shopper.get_by_role("button", name="Add to cart")).to_be_enabled()


def test_a_customer_cannot_open_the_admin_pages(
    secured_shop_url: str, shop_catalog: dict[str, ShopProduct], open_page: OpenPage
) -> None:
    page = open_page(secured_shop_url + "/")
    sign_in(page, "customer")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    page.goto(secured_shop_url + "/admin")
    expect(page.get_by_text("The admin pages need the admin role")).to_be_visible()


def test_an_admin_creates_edits_and_deletes_a_product_changes_an_order_and_signs_out(
    secured_shop_url: str, shop_catalog: dict[str, ShopProduct], open_page: OpenPage
) -> None:
    page = open_page(secured_shop_url + "/")
    sign_in(page, "admin")
    page.get_by_role("link", name="Admin").click()

    page.get_by_text("New product").click()
    form = page.get_by_role("form", name="Create product")
    form.get_by_label("Name").fill("Vega Desk Fan")
    form.get_by_label("Price").fill("34.50")
    form.get_by_label("Category").fill("Home")
    form.get_by_label("Stock").fill("4")
    form.get_by_role("button", name="Create product").click()
    expect(page.get_by_text("Created Vega Desk Fan.")).to_be_visible()
    found = page.get_by_test_id("admin-products").locator("tr", has_text="Vega Desk Fan")
    expect(found).to_have_count(1)
    # By id from here on: while edited, the row shows the name only as an input's value.
    row = page.locator(f'tr[data-product-id="{found.get_attribute("data-product-id")}"]')
    expect(row.get_by_test_id("stock-available")).to_have_text("4")

    row.get_by_role("button", name="Edit").click()
    edit = row.get_by_role("form", name="Save")
    edit.get_by_label("Price").fill("29.90")
    edit.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved Vega Desk Fan.")).to_be_visible()
    expect(row).to_contain_text("$29.90")

    # The admin buys one (admins have the customer role too) and ships it from the order list.
    row.get_by_role("link", name="Vega Desk Fan").click()
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("link", name=re.compile("^Cart")).click()
    page.get_by_role("button", name="Place order").click()
    order_id_from(page)
    order_number = page.get_by_test_id("order-number").inner_text()
    page.get_by_role("link", name="Admin").click()
    status = page.get_by_test_id("admin-orders").get_by_label(f"Status of {order_number}")
    expect(status).to_have_value("CONFIRMED")
    status.select_option("SHIPPED")
    expect(status).to_have_value("SHIPPED")
    page.reload()
    expect(status).to_have_value("SHIPPED")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted Vega Desk Fan.")).to_be_visible()
    expect(row).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
