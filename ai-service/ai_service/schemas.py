"""Public API models (the contract) and the JSON shapes asked of a model."""

from typing import Literal

from pydantic import BaseModel, Field, computed_field, field_validator

# Money leaves as a JSON number with its two decimals (`599.00`, docs/api.md), written by
# chassis.api.exact_reply, never through a binary float.
from chassis.api import Money


class ChatMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=4000)


CHAT_ROLES = ("user", "assistant")


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=2000)
    # `null` is no history, and turns of other roles (e.g. "system") are left out, as the
    # original design's clients send them: a client cannot steer the assistant through them.
    history: list[ChatMessage] = Field(default_factory=list, max_length=30)

    @field_validator("history", mode="before")
    @classmethod
    def _known_roles_only(cls, value: object) -> object:
        if value is None:
            return []
        if isinstance(value, list):
            return [
                turn
                for turn in value
                if not (isinstance(turn, dict) and turn.get("role") not in CHAT_ROLES)
            ]
        return value


class ProductSuggestion(BaseModel):
    product_id: str
    name: str
    price: Money
    reason: str


class ChatReply(BaseModel):
    reply: str
    products: list[ProductSuggestion]
    # "local-retrieval" when no language model wrote it; else "<provider>:<model>".
    generated_by: str


class RecommendationsReply(BaseModel):
    recommendations: list[ProductSuggestion]
    generated_by: str


class SuggestRequest(BaseModel):
    query: str = Field(min_length=1, max_length=500)
    # Only this category (the catalog's name, any case), only products in stock.
    category: str | None = Field(default=None, max_length=100)
    in_stock_only: bool = False


class SuggestReply(BaseModel):
    # Products that fit the query (empty when nothing in the catalog does).
    matches: list[ProductSuggestion]
    search_tags: list[str]
    search_category: str | None
    # When nothing fits: the closest products, each labelled as an alternative, not a match.
    alternatives: list[ProductSuggestion] = Field(default_factory=list)
    note: str | None = None
    generated_by: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def result(self) -> str:
        """The suggestions as one text, as the original design's `result` (clients that read
        only that keep working; the fields above are the structured form)."""
        lines = [f"{p.name} (${p.price:.2f}): {p.reason}" for p in self.matches]
        if not lines:
            lines.append(self.note or "Nothing in the catalog fits this request.")
            lines += [
                f"Alternative: {p.name} (${p.price:.2f}): {p.reason}" for p in self.alternatives
            ]
        return "\n".join(lines)


# ---- what a model must answer (parsed, then checked against the catalog) ----------------


class PickedProduct(BaseModel):
    product_id: str
    reason: str = Field(default="", max_length=500)


class ModelChatAnswer(BaseModel):
    reply: str = Field(min_length=1, max_length=4000)
    products: list[PickedProduct] = Field(default_factory=list, max_length=20)


class ModelPicks(BaseModel):
    products: list[PickedProduct] = Field(default_factory=list, max_length=20)


class ModelSuggestAnswer(BaseModel):
    products: list[PickedProduct] = Field(default_factory=list, max_length=20)
    search_tags: list[str] = Field(default_factory=list, max_length=20)
    search_category: str | None = None


class ModelEmailDraft(BaseModel):
    """What the model writes for a follow-up email; the store adds the HTML and products."""

    subject: str = Field(min_length=1, max_length=200)
    body_text: str = Field(min_length=1, max_length=20_000)


class ModelEmail(BaseModel):
    subject: str = Field(min_length=1, max_length=200)
    body_html: str = Field(min_length=1, max_length=50_000)
    body_text: str = Field(min_length=1, max_length=20_000)
