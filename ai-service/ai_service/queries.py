"""What a shopper's sentence asks for beyond its words: a budget ("under $500", "between
100 and 300"), and follow-ups that only make sense with the history ("something cheaper")."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ai_service.catalog import tokenize

_AMOUNT = r"\$?\s*(\d[\d,]*(?:\.\d+)?)\s*(k\b)?\s*(?:dollars|usd|bucks)?"
_UPPER = re.compile(
    r"\b(?:under|below|less than|cheaper than|max(?:imum)?|up to|at most|within|"
    r"no more than|not more than|budget(?: of| is)?|<=?)\s*" + _AMOUNT,
    re.I,
)
_LOWER = re.compile(
    r"\b(?:over|above|more than|at least|min(?:imum)?|starting at|from|>=?)\s*" + _AMOUNT, re.I
)
_BETWEEN = re.compile(r"\b(?:between\s+)?" + _AMOUNT + r"\s*(?:and|to|-)\s*" + _AMOUNT, re.I)
_PRICE_SHOWN = re.compile(r"\$\s*(\d[\d,]*(?:\.\d{1,2})?)")
_CHEAPER = re.compile(
    r"\b(cheaper|less expensive|lower price|more affordable|budget option|"
    r"too expensive|too pricey)\b",
    re.I,
)
_PRICIER = re.compile(r"\b(more expensive|pricier|premium|higher[- ]end|fancier|upgrade)\b", re.I)
_OTHERS = re.compile(
    r"\b(something else|other options?|anything else|alternatives?|more options|"
    r"different one)\b",
    re.I,
)
_IN_STOCK = re.compile(r"\b(in stock|available (?:now|today)|ships? (?:now|today))\b", re.I)
CUE_WORDS = set(
    tokenize(
        "cheaper less expensive lower price more affordable budget option "
        "pricier premium higher end fancier upgrade else other options "
        "alternative alternatives different under below over above between "
        "than dollars usd bucks max maximum min minimum least most around "
        "too pricey"
    )
)


@dataclass(frozen=True)
class ChatTurn:
    role: str
    content: str


@dataclass(frozen=True)
class ShoppingQuery:
    topic: str
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    exclude_shown: bool = False
    follow_up: bool = False
    in_stock_only: bool = False


def _amount(number: str, thousands: str | None) -> Decimal | None:
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    return value * 1000 if thousands else value


def parse_budget(text: str) -> tuple[Decimal | None, Decimal | None]:
    """(min, max) prices the text asks for; None where it sets no bound."""
    low: Decimal | None = None
    high: Decimal | None = None
    match = _BETWEEN.search(text)
    # "between 100 and 300" or "$100-$300"; a bare "2 to 3" is not a price range.
    if match and ("between" in match.group(0).lower() or "$" in match.group(0)):
        a, b = _amount(match.group(1), match.group(2)), _amount(match.group(3), match.group(4))
        if a is not None and b is not None:
            return min(a, b), max(a, b)
    if match := _UPPER.search(text):
        high = _amount(match.group(1), match.group(2))
    if match := _LOWER.search(text):
        low = _amount(match.group(1), match.group(2))
    return low, high


def without_budget(text: str) -> str:
    """The text less its price limits ("running shoes under $150" -> "running shoes"), so
    the numbers do not pull the sentence embedding away from what is wanted."""
    stripped = text
    match = _BETWEEN.search(stripped)
    if match and ("between" in match.group(0).lower() or "$" in match.group(0)):
        stripped = stripped.replace(match.group(0), " ")
    for pattern in (_UPPER, _LOWER, _IN_STOCK):
        stripped = pattern.sub(" ", stripped)
    cleaned = " ".join(stripped.split()).strip(" ,.;:-")
    return cleaned or text


def prices_shown(text: str) -> list[Decimal]:
    found = []
    for number in _PRICE_SHOWN.findall(text):
        try:
            found.append(Decimal(number.replace(",", "")))
        except InvalidOperation:
            continue
    return found


def understand(message: str, history: Sequence[ChatTurn], known_words: set[str]) -> ShoppingQuery:
    """Resolve a message against the conversation: its own budget wins; "cheaper" or
    "pricier" is relative to the first price of the last answer; a message without words the
    catalog knows borrows the topic of the last user message that had some."""
    low, high = parse_budget(message)
    cheaper, pricier = bool(_CHEAPER.search(message)), bool(_PRICIER.search(message))
    others = bool(_OTHERS.search(message))
    topical = [t for t in tokenize(message) if t not in CUE_WORDS and not t.isdigit()]
    has_topic = any(t in known_words for t in topical)
    follow_up = cheaper or pricier or others or not has_topic
    topic = message
    if follow_up and not has_topic:
        for turn in reversed(history):
            if turn.role == "user" and any(t in known_words for t in tokenize(turn.content)):
                topic = f"{turn.content} {message}"
                if low is None and high is None:
                    low, high = parse_budget(turn.content)
                break
    if cheaper or pricier:
        last_answer = next((t.content for t in reversed(history) if t.role == "assistant"), "")
        shown = prices_shown(last_answer)
        if shown:
            reference = shown[0]
            if cheaper and high is None:
                high = reference - Decimal("0.01")
            if pricier and low is None:
                low = reference + Decimal("0.01")
    return ShoppingQuery(
        topic=topic,
        min_price=low,
        max_price=high,
        exclude_shown=others,
        follow_up=follow_up and bool(history),
        in_stock_only=bool(_IN_STOCK.search(message)),
    )
