"""A small catalog the unit tests share."""

from decimal import Decimal

from ai_service.catalog import CatalogIndex, Product


def product(
    pid: str,
    name: str,
    price: str,
    category: str,
    tags: tuple[str, ...] = (),
    description: str = "",
    stock: int = 10,
    version: int = 1,
) -> Product:
    return Product(
        id=pid,
        name=name,
        price=Decimal(price),
        category=category,
        tags=tags,
        description=description,
        stock_quantity=stock,
        version=version,
    )


def sample_catalog() -> CatalogIndex:
    catalog = CatalogIndex()
    for p in [
        product(
            "p-phone",
            "iPhone 15 Pro",
            "999.99",
            "Electronics",
            ("phone", "apple"),
            "Apple smartphone with titanium design",
        ),
        product(
            "p-pixel",
            "Pixel 8",
            "599.00",
            "Electronics",
            ("phone", "android"),
            "Google smartphone with a great camera",
        ),
        product(
            "p-budget",
            "Moto G Play",
            "149.99",
            "Electronics",
            ("phone", "android"),
            "Affordable android smartphone",
        ),
        product(
            "p-case",
            "iPhone 15 Pro Case",
            "29.99",
            "Accessories",
            ("phone", "apple", "case"),
            "Protective case for iPhone 15 Pro",
        ),
        product(
            "p-charger",
            "USB-C Fast Charger",
            "39.99",
            "Accessories",
            ("charger", "usb-c"),
            "20W charger for phones",
        ),
        product(
            "p-shoe",
            "Trail Runner",
            "89.50",
            "Sports",
            ("running", "shoes"),
            "Lightweight trail running shoes",
        ),
        product(
            "p-road",
            "Road Racer",
            "159.00",
            "Sports",
            ("running", "shoes"),
            "Carbon plate road running shoes",
        ),
        product("p-mat", "Yoga Mat", "25.00", "Sports", ("yoga",), "Non-slip yoga mat", stock=0),
        product(
            "p-laptop",
            "MacBook Air 13",
            "1099.00",
            "Electronics",
            ("laptop", "apple"),
            "Light laptop with M3 chip",
        ),
    ]:
        catalog.upsert(p)
    catalog.loaded = True
    return catalog
