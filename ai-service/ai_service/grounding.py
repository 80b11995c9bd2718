"""What a language model writes is checked against the catalog before a shopper sees it.

The products it picks are already reduced to catalog ids (service._ground). Its prose is
checked here, sentence by sentence: links are removed (the store never sends shoppers to an
address a model wrote, whatever a product description or a message asked for); a price next to
a catalog product's name becomes that product's catalog price; any other amount must be the
price of a product being shown, or a budget the shopper gave, else the sentence is dropped (an
invented product with an invented price, an injected "everything is $1"). A sentence naming an
invented product without any price cannot be told from prose and is kept; the product list
that comes with it is always grounded."""

import re
from collections.abc import Collection, Iterable
from decimal import Decimal, InvalidOperation

from ai_service.catalog import Product

_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_PRICE = re.compile(r"\$\s?(\d[\d,]*(?:\.\d{1,2})?)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class _Unbacked(Exception):
    """An amount in a sentence that no catalog price or budget backs."""


def _price_text(value: Decimal) -> str:
    return f"${value:,.2f}"


def _amount(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def _check_sentence(
    sentence: str,
    catalog: Iterable[Product],
    shown: Collection[Decimal],
    budget: Collection[Decimal],
) -> str:
    lowered = sentence.lower()
    named = [p for p in catalog if p.name and p.name.lower() in lowered]

    def price(match: re.Match[str]) -> str:
        amount = _amount(match.group(1))
        if amount is not None and (amount in budget or any(p.price == amount for p in named)):
            return match.group(0)
        if len(named) == 1:
            return _price_text(named[0].price)
        if amount is not None and not named and amount in shown:
            return match.group(0)
        raise _Unbacked

    return _PRICE.sub(price, sentence)


def check_text(
    text: str,
    *,
    shown: Iterable[Product],
    catalog: Iterable[Product],
    budget: Iterable[Decimal | None] = (),
) -> str:
    """`text` with links removed, prices corrected to the catalog's, and sentences whose
    amounts nothing backs dropped. May return "" (nothing usable was left)."""
    products = list(catalog)
    shown_prices = {p.price for p in shown}
    limits = {b for b in budget if b is not None}
    kept: list[str] = []
    for paragraph in text.split("\n"):
        sentences = []
        for sentence in _SENTENCE_END.split(_MARKDOWN_LINK.sub(r"\1", paragraph)):
            sentence = " ".join(_URL.sub("", sentence).split())
            if not sentence:
                continue
            try:
                sentences.append(_check_sentence(sentence, products, shown_prices, limits))
            except _Unbacked:
                continue
        kept.append(" ".join(sentences))
    return "\n".join(line for line in kept if line).strip()
