"""Emails rendered from Jinja2 templates (HTML autoescaped), and the allow-list that cleans
HTML written by the AI before it reaches a customer's inbox."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import nh3
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from contracts import AiNotificationReady, InventoryLow, OrderPlaced
from notification_service.schemas import NotificationKind

# What an AI-written email body may contain: text formatting, lists, tables, links. No
# scripts, styles, forms, images (tracking pixels) or event handler attributes.
ALLOWED_TAGS = {
    "a",
    "b",
    "blockquote",
    "br",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "span",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan"}, "th": {"colspan"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


@dataclass(frozen=True)
class Email:
    kind: NotificationKind
    to: str
    subject: str
    html: str
    text: str
    order_number: str | None = None


def money(value: Decimal | int | str) -> str:
    amount = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"${amount:,.2f}"


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


class EmailRenderer:
    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("notification_service", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=False,
            # The templates ship with the package: no stat of the file before every render.
            auto_reload=False,
        )
        self.env.filters["money"] = money

    def _render(self, name: str, **context: Any) -> tuple[str, str]:
        html = self.env.get_template(f"{name}.html").render(**context)
        text = self.env.get_template(f"{name}.txt").render(**context)
        return html, text

    def order_confirmation(self, order: OrderPlaced) -> Email:
        subject = f"Order confirmed: {order.order_number}"
        html, text = self._render("order_confirmation", order=order, subject=subject)
        return Email(
            "order-confirmation", order.customer_email, subject, html, text, order.order_number
        )

    def order_cancellation(self, order: OrderPlaced) -> Email:
        subject = f"Order cancelled: {order.order_number}"
        html, text = self._render("order_cancellation", order=order, subject=subject)
        return Email(
            "order-cancellation", order.customer_email, subject, html, text, order.order_number
        )

    def inventory_low(self, alert: InventoryLow, admin_email: str) -> Email:
        subject = f"Low stock: {alert.product_name} ({alert.available_qty} left)"
        html, text = self._render("inventory_low", alert=alert, subject=subject)
        return Email("inventory-low", admin_email, subject, html, text)

    def ai_follow_up(self, note: AiNotificationReady) -> Email:
        # Markup() marks the already-cleaned HTML as safe so autoescape keeps its tags.
        html = self.env.get_template("ai_follow_up.html").render(
            subject=note.subject,
            order_number=note.order_number,
            body=Markup(sanitize_html(note.body_html)),
        )
        text = self.env.get_template("ai_follow_up.txt").render(
            body=note.body_text, order_number=note.order_number
        )
        return Email(
            "ai-follow-up", note.customer_email, note.subject, html, text, note.order_number
        )
