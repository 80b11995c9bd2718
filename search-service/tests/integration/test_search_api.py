"""Search, autocomplete and filter against the real index: mapping, relevance, fuzziness,
prefixes, facets, and 422s for bad parameters."""

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from search_service.events import ProductUpdated
from search_service.service import SearchService


@pytest.fixture
def index_products(
    service: SearchService, make_product: Callable[..., dict[str, Any]]
) -> Callable[..., Awaitable[list[str]]]:
    async def index(*products: dict[str, Any]) -> list[str]:
        ids = []
        for fields in products:
            product = make_product(**fields)
            await service.apply(
                ProductUpdated.model_validate(
                    {
                        "op": "upsert",
                        "product_id": product["id"],
                        "version": product["version"],
                        "product": {**product, "price": Decimal(str(product["price"]))},
                    }
                )
            )
            ids.append(product["id"])
        await service.index.es.indices.refresh(index=service.index.alias)
        return ids

    return index


def token() -> str:
    return f"zq{uuid.uuid4().hex[:8]}"


async def test_alias_points_at_one_index_with_an_explicit_mapping(service: SearchService) -> None:
    es, alias = service.index.es, service.index.alias
    behind = list((await es.indices.get_alias(name=alias)).body)
    assert len(behind) == 1
    assert behind[0].startswith(f"{alias}-")
    mapping = (await es.indices.get_mapping(index=behind[0])).body[behind[0]]["mappings"]
    fields = mapping["properties"]
    assert mapping["dynamic"] == "strict"
    assert fields["name"]["type"] == "text"
    assert fields["name"]["analyzer"] == "product_text"
    assert fields["name"]["fields"]["autocomplete"]["analyzer"] == "autocomplete_index"
    assert fields["description"]["analyzer"] == "product_text"
    assert fields["category"]["type"] == "keyword"
    assert fields["tags"]["type"] == "keyword"
    assert fields["price"] == {"type": "scaled_float", "scaling_factor": 100}
    assert fields["created_at"]["type"] == "date"
    assert fields["updated_at"]["type"] == "date"
    analysis = (await es.indices.get_settings(index=behind[0])).body[behind[0]]["settings"]
    assert "product_text" in str(analysis)


async def test_analyzer_folds_accents_and_stems(client, index_products) -> None:
    word = token()
    await index_products({"name": f"Crème Brûlée {word} Torches"})
    reply = (await client.get("/api/search", params={"q": f"creme brulee torch {word}"})).json()
    assert reply["total"] == 1


async def test_name_match_ranks_above_description_match(client, index_products) -> None:
    word = token()
    in_description, in_name = await index_products(
        {"name": "Reading Chair", "description": f"Pairs well with the {word} lamp"},
        {"name": f"{word} Lamp", "description": "A warm desk light"},
    )
    reply = (await client.get("/api/search", params={"q": word})).json()
    assert [hit["id"] for hit in reply["hits"]] == [in_name, in_description]
    assert reply["total"] == 2
    assert reply["hits"][0]["score"] > reply["hits"][1]["score"]
    assert "<em>" in reply["hits"][0]["highlight"]["name"][0]


async def test_a_tag_is_searchable_as_text(client, index_products) -> None:
    word = token()
    (pid,) = await index_products({"name": "Plain Cup", "tags": [f"{word}s"]})
    reply = (await client.get("/api/search", params={"q": word})).json()
    assert [hit["id"] for hit in reply["hits"]] == [pid]
    assert reply["hits"][0]["highlight"]["tags"] == [f"<em>{word}s</em>"]


async def test_a_typo_still_finds_the_product(client, index_products) -> None:
    word = token()
    (pid,) = await index_products({"name": f"Wireless Headphones {word}"})
    reply = (await client.get("/api/search", params={"q": "wireles headphnes " + word})).json()
    assert pid in [hit["id"] for hit in reply["hits"]]
    reply = (await client.get("/api/search", params={"q": word[:-1] + "x"})).json()
    assert [hit["id"] for hit in reply["hits"]] == [pid]


async def test_search_pages_and_reports_the_total(client, index_products) -> None:
    word = token()
    ids = await index_products(*({"name": f"{word} Sock {n}"} for n in range(5)))
    first = (await client.get("/api/search", params={"q": word, "page": 1, "size": 2})).json()
    third = (await client.get("/api/search", params={"q": word, "page": 3, "size": 2})).json()
    assert first["total"] == third["total"] == 5
    assert (len(first["hits"]), len(third["hits"])) == (2, 1)
    seen = {hit["id"] for hit in first["hits"] + third["hits"]}
    assert seen <= set(ids)


async def test_search_takes_page_size_and_says_the_total_in_headers(client, index_products) -> None:
    word = token()
    await index_products(*({"name": f"{word} Lamp {n}", "tags": [word]} for n in range(3)))
    reply = await client.get("/api/search", params={"q": word, "page": 1, "page_size": 2})
    body = reply.json()
    assert (body["total"], body["page"], body["page_size"], body["size"]) == (3, 1, 2, 2)
    assert len(body["hits"]) == 2
    assert reply.headers["x-total-count"] == "3"
    assert f'</api/search?q={word}&page=2&page_size=2>; rel="next"' in reply.headers["link"]
    old = await client.get("/api/search/filter", params={"tags": word, "size": 1})
    assert (old.json()["size"], old.headers["x-total-count"]) == (1, "3")
    assert f'</api/search/filter?tags={word}&page=2&size=1>; rel="next"' in old.headers["link"]


async def test_autocomplete_suggests_names_from_one_character(client, index_products) -> None:
    word = token()
    ids = await index_products(
        {"name": f"{word}ington Boots"}, {"name": f"{word}er Jacket"}, {"name": "Unrelated Hat"}
    )
    reply = (await client.get("/api/search/autocomplete", params={"q": word[:7]})).json()
    assert {s["id"] for s in reply["suggestions"]} == set(ids[:2])
    one_char = (await client.get("/api/search/autocomplete", params={"q": "z"})).json()
    assert 0 < len(one_char["suggestions"]) <= 10
    assert all(
        s["name"].lower().split()[0].startswith("z") or " z" in s["name"].lower()
        for s in one_char["suggestions"]
    )
    second_word = (
        await client.get("/api/search/autocomplete", params={"q": f"{word}ington bo"})
    ).json()
    assert [s["name"] for s in second_word["suggestions"]] == [f"{word}ington Boots"]


async def test_autocomplete_returns_at_most_ten(client, index_products) -> None:
    word = token()
    await index_products(*({"name": f"{word} Candle {n}"} for n in range(12)))
    reply = (await client.get("/api/search/autocomplete", params={"q": word})).json()
    assert len(reply["suggestions"]) == 10


async def test_filter_by_category_price_and_tags_with_facets(client, index_products) -> None:
    tag = token()
    cheap, mid, pricey, other_tag = await index_products(
        {"name": "Cheap Pen", "category": "Office", "price": 4.5, "tags": [tag, "Pens"]},
        {"name": "Desk Lamp", "category": "Office", "price": 45, "tags": [tag]},
        {"name": "Armchair", "category": "Furniture", "price": 450, "tags": [tag]},
        {"name": "Other Pen", "category": "Office", "price": 5, "tags": ["pens"]},
    )
    reply = await client.get("/api/search/filter", params={"tags": tag})
    body = reply.json()
    assert reply.status_code == 200
    assert body["total"] == 3
    assert {hit["id"] for hit in body["hits"]} == {cheap, mid, pricey}
    assert {f["category"]: f["count"] for f in body["facets"]["categories"]} == {
        "Office": 2,
        "Furniture": 1,
    }
    ranges = {f["key"]: f["count"] for f in body["facets"]["price_ranges"]}
    assert (ranges["0-25"], ranges["25-50"], ranges["250-500"], ranges["1000+"]) == (1, 1, 1, 0)

    narrowed = (
        await client.get(
            "/api/search/filter",
            params={"tags": tag, "category": "office", "minPrice": "4.5", "maxPrice": "45"},
        )
    ).json()
    assert {hit["id"] for hit in narrowed["hits"]} == {cheap, mid}
    assert narrowed["filters"] == {
        "category": "office",
        "min_price": 4.5,
        "max_price": 45.0,
        "tags": [tag],
    }

    both_tags = (await client.get("/api/search/filter", params={"tags": f"{tag},PENS"})).json()
    assert [hit["id"] for hit in both_tags["hits"]] == [cheap]
    repeated = (
        await client.get("/api/search/filter", params=[("tags", tag), ("tags", "pens")])
    ).json()
    assert [hit["id"] for hit in repeated["hits"]] == [cheap]
    assert other_tag not in {hit["id"] for hit in both_tags["hits"]}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/search/filter", {"minPrice": "50", "maxPrice": "10"}, "minPrice"),
        ("/api/search/filter", {"minPrice": "-1"}, "minPrice"),
        ("/api/search/filter", {"maxPrice": "ten"}, "maxPrice"),
        ("/api/search/filter", {"maxPrice": "NaN"}, "maxPrice"),
        ("/api/search/filter", {"tags": ",".join(f"t{n}" for n in range(21))}, "tags"),
        ("/api/search/filter", {"size": "101"}, "size"),
        ("/api/search", {"size": "1000"}, "size"),
        ("/api/search", {"page": "0"}, "page"),
        ("/api/search", {"page": "abc"}, "page"),
        ("/api/search", {"page": "200", "size": "100"}, "page"),
        ("/api/search", {"q": "x" * 201}, "q"),
        ("/api/search/autocomplete", {"q": ""}, "q"),
        ("/api/search/autocomplete", {}, "q"),
    ],
)
async def test_bad_parameters_are_a_422_naming_the_parameter(
    client, path: str, params: dict[str, str], field: str
) -> None:
    reply = await client.get(path, params=params)
    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"]
    assert isinstance(detail, list)
    assert detail[0]["loc"][-1] == field
    assert detail[0]["msg"]


async def test_min_price_above_max_price_says_so(client) -> None:
    reply = await client.get("/api/search/filter", params={"minPrice": "50", "maxPrice": "10"})
    assert reply.json()["detail"][0]["msg"] == (
        "minPrice (50) must not be greater than maxPrice (10)"
    )


async def test_empty_query_lists_products_and_control_characters_are_ignored(client) -> None:
    listed = await client.get("/api/search", params={"q": ""})
    assert listed.status_code == 200
    assert listed.json()["total"] >= 1
    weird = await client.get("/api/search", params={"q": "\x00\x1f lamp \x7f"})
    assert weird.status_code == 200
    assert weird.json()["query"] == "lamp"
