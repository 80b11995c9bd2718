"""The `local` provider: answers built from catalog retrieval alone, no model, no network.
Every answer says so (`generated_by: local-retrieval`)."""

import html
from collections.abc import Sequence
from decimal import Decimal

from ai_service.catalog import Hit, Product
from ai_service.queries import ShoppingQuery
from ai_service.schemas import ModelEmail, ProductSuggestion

GENERATED_BY_LOCAL = "local-retrieval"


def price_text(value: Decimal) -> str:
    return f"${value:,.2f}"


def reason_for(hit: Hit) -> str:
    product = hit.product
    parts = []
    if hit.matched:
        parts.append("matches " + ", ".join(f"'{t}'" for t in hit.matched[:4]))
    elif hit.similarity is not None and hit.fits:
        parts.append("close in meaning to your request")
    if product.category:
        parts.append(f"in {product.category}")
    if product.stock_quantity > 0:
        parts.append(f"{product.stock_quantity} in stock")
    else:
        parts.append("currently out of stock")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:]


def suggestion(product: Product, reason: str) -> ProductSuggestion:
    return ProductSuggestion(
        product_id=product.id, name=product.name, price=product.price, reason=reason
    )


def alternative_reason(hit: Hit, query: ShoppingQuery) -> str:
    """Labels a product that does not answer the request, and says why it is shown."""
    price = hit.product.price
    if hit.fits and query.max_price is not None and price > query.max_price:
        why = f"above your budget at {price_text(price)}"
    elif hit.fits and query.min_price is not None and price < query.min_price:
        why = f"below your price range at {price_text(price)}"
    elif hit.fits and query.in_stock_only and hit.product.stock_quantity <= 0:
        why = "currently out of stock"
    else:
        why = "not a close match"
    return f"Closest alternative, {why}"


def budget_text(query: ShoppingQuery) -> str:
    low, high = query.min_price, query.max_price
    if low is not None and high is not None:
        return f"between {price_text(low)} and {price_text(high)}"
    if high is not None:
        return f"up to {price_text(high)}"
    if low is not None:
        return f"from {price_text(low)}"
    return ""


def chat_reply(
    query: ShoppingQuery, hits: Sequence[Hit], catalog_size: int, alternatives: Sequence[Hit] = ()
) -> str:
    if catalog_size == 0:
        return (
            "The product catalog is not loaded yet, so I cannot suggest anything right "
            "now. Please try again in a moment."
        )
    budget = budget_text(query)
    if not hits:
        within = f" {budget}" if budget else ""
        lines = [f'Nothing in our catalog fits "{query.topic.strip()}"{within}.']
        if alternatives:
            lines.append("The closest alternatives, which may not be what you are looking for:")
            for number, hit in enumerate(alternatives, 1):
                lines.append(
                    f"{number}. {hit.product.name}: {price_text(hit.product.price)}"
                    f" ({alternative_reason(hit, query)})"
                )
        else:
            lines.append("Try other words or a wider budget.")
        lines.append("(Found by catalog search; not written by a language model.)")
        return "\n".join(lines)
    # The list comes first: a follow-up ("something cheaper") reads the first price shown.
    lines = [
        f"Here {'is' if len(hits) == 1 else 'are'} {len(hits)} "
        f"pick{'' if len(hits) == 1 else 's'} from our catalog:"
    ]
    for number, hit in enumerate(hits, 1):
        lines.append(
            f"{number}. {hit.product.name}: {price_text(hit.product.price)} ({reason_for(hit)})"
        )
    if budget:
        lines.append(f"Budget considered: {budget}.")
    lines.append("(Found by catalog search; not written by a language model.)")
    return "\n".join(lines)


def follow_up_email(
    customer_name: str, order_number: str, bought: Sequence[str], picks: Sequence[Product]
) -> ModelEmail:
    first_name = customer_name.split()[0] if customer_name.split() else "there"
    main_item = bought[0] if bought else "your order"
    subject = f"{first_name}, thanks for your order {order_number}"
    text_lines = [
        f"Hi {first_name},",
        "",
        f"thank you for ordering {', '.join(bought) or 'from us'}. We hope you enjoy it.",
    ]
    html_parts = [
        f"<p>Hi {html.escape(first_name)},</p>",
        f"<p>thank you for ordering {html.escape(', '.join(bought) or 'from us')}. "
        "We hope you enjoy it.</p>",
    ]
    if picks:
        text_lines += ["", f"Shoppers who chose {main_item} also looked at:"]
        html_parts.append(f"<p>Shoppers who chose {html.escape(main_item)} also looked at:</p><ul>")
        for product in picks:
            text_lines.append(f"- {product.name} ({price_text(product.price)})")
            html_parts.append(
                f"<li>{html.escape(product.name)} ({html.escape(price_text(product.price))})</li>"
            )
        html_parts.append("</ul>")
    text_lines += [
        "",
        "Suggestions picked from our catalog by matching, not written by a language model.",
    ]
    html_parts.append(
        "<p><em>Suggestions picked from our catalog by matching, "
        "not written by a language model.</em></p>"
    )
    return ModelEmail(
        subject=subject, body_html="".join(html_parts), body_text="\n".join(text_lines)
    )
