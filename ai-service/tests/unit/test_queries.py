from decimal import Decimal

import pytest

from ai_service.queries import ChatTurn, parse_budget, understand


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("phones under $500", (None, Decimal("500"))),
        ("a laptop below 300", (None, Decimal("300"))),
        ("less than 1,000 dollars", (None, Decimal("1000"))),
        ("budget of 1.5k", (None, Decimal("1500"))),
        ("shoes over $50", (Decimal("50"), None)),
        ("between 100 and 300", (Decimal("100"), Decimal("300"))),
        ("$300-$100 headphones", (Decimal("100"), Decimal("300"))),
        ("at least 20 and no more than 80", (Decimal("20"), Decimal("80"))),
        ("running shoes", (None, None)),
        ("iPhone 15 Pro", (None, None)),
    ],
)
def test_budgets_are_read_from_the_sentence(text: str, expected: tuple[object, object]) -> None:
    assert parse_budget(text) == expected


KNOWN = {"phone", "running", "shoe", "laptop"}


def test_something_cheaper_reuses_the_topic_and_goes_below_the_first_price_shown() -> None:
    history = [
        ChatTurn("user", "I want a phone"),
        ChatTurn("assistant", "1. iPhone 15 Pro: $999.99 (...)\n2. Pixel 8: $599.00"),
    ]
    query = understand("something cheaper", history, KNOWN)
    assert "phone" in query.topic
    assert query.max_price == Decimal("999.98")
    assert query.follow_up


def test_an_explicit_budget_wins_over_the_relative_one() -> None:
    history = [ChatTurn("user", "running shoes"), ChatTurn("assistant", "1. Road Racer: $159.00")]
    query = understand("cheaper, under $100", history, KNOWN)
    assert query.max_price == Decimal("100")


def test_a_new_topic_does_not_borrow_the_old_one() -> None:
    history = [ChatTurn("user", "running shoes")]
    query = understand("a laptop please", history, KNOWN)
    assert query.topic == "a laptop please"
    assert query.max_price is None


def test_more_expensive_sets_a_lower_bound() -> None:
    history = [ChatTurn("user", "running shoes"), ChatTurn("assistant", "1. Trail: $89.50")]
    assert understand("show me something more expensive", history, KNOWN).min_price == Decimal(
        "89.51"
    )
