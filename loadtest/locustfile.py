"""Shopper journeys through the gateway, weighted like a shop's traffic (loadtest/README.md).

    make load       # headless, users climbing in steps; reports in bench/results/
    make load-ui    # Locust's web UI on http://127.0.0.1:8089, users chosen there

Environment: LOAD_OIDC_ISSUER (the local provider, `make dev`'s by default) for sign-in;
LOAD_STEPS (users per step, "10,25,50,100") and LOAD_STEP_SECONDS (each step's length) for the
headless stepped run. The gateway's rate limits must be off for a load test from one machine
(`RATE_LIMIT_ENABLED=false make dev`): a 429 fails the run and says so.
"""

import os
import random
import threading
import uuid
from typing import Any

from locust import HttpUser, LoadTestShape, between, events, task
from locust.env import Environment

ISSUER = os.environ.get("LOAD_OIDC_ISSUER", "http://127.0.0.1:8081/realms/ecommerce")
CLIENT_ID = "ecommerce-app"
SEARCH_WORDS = (
    "lamp",
    "headphones",
    "laptop",
    "coffee",
    "chair",
    "phone",
    "kettle",
    "desk",
    "headphnes",
    "watch",
)
CHAT_MESSAGES = (
    "a laptop under $1500",
    "something to make crispy fries",
    "a gift for a runner",
    "quiet headphones for the office",
    "a lamp for reading",
)
LAST_UNITS = 20
RATE_LIMITED = (
    "rate limited (429): the gateway's limits are on; a load test from one machine "
    "needs RATE_LIMIT_ENABLED=false on the gateway (loadtest/README.md)"
)

catalog: list[dict[str, Any]] = []
race: dict[str, Any] = {"product_id": None, "won": 0, "refused": 0}
race_lock = threading.Lock()
rate_limited = 0


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@events.test_start.add_listener
def prepare(environment: Environment, **_: Any) -> None:
    """Learn the catalog; create the product of the last-units race with LAST_UNITS units."""
    import httpx

    host = environment.host or "http://127.0.0.1:9000"
    with httpx.Client(base_url=host, timeout=30) as client:
        headers = {}
        token = _token(client, "admin")
        if token:
            headers["authorization"] = f"Bearer {token}"
        reply = client.get("/api/products", params={"page_size": 100})
        reply.raise_for_status()
        catalog[:] = reply.json()["products"]
        if not catalog:
            raise SystemExit("the catalog is empty: run `make dev` (it loads the demo catalog)")
        name = f"Last Units Lamp {uuid.uuid4().hex[:6]}"
        created = client.post(
            "/api/products",
            headers=headers,
            json={
                "name": name,
                "description": "Twenty left, everyone wants one",
                "price": 19.99,
                "category": "lighting",
                "stock_quantity": LAST_UNITS,
            },
        )
        created.raise_for_status()
        product_id = created.json()["id"]
        stock = client.post(
            "/api/inventory",
            headers=headers,
            json={"product_id": product_id, "product_name": name, "quantity": LAST_UNITS},
        )
        if stock.status_code not in (200, 201, 409):
            stock.raise_for_status()
        race.update(product_id=product_id, name=name)


@events.test_stop.add_listener
def check_race(environment: Environment, **_: Any) -> None:
    """The last units are sold once each: never more successes than units, never below 0."""
    import httpx

    if race["product_id"] is None:
        return
    host = environment.host or "http://127.0.0.1:9000"
    item = httpx.get(f"{host}/api/inventory/{race['product_id']}", timeout=30).json()
    oversold = race["won"] > LAST_UNITS or item.get("available_qty", 0) < 0
    print(
        f"last units race: {race['won']} orders won, {race['refused']} refused, "
        f"{LAST_UNITS} units, available now {item.get('available_qty')}"
        f"{' OVERSOLD' if oversold else ''}"
    )
    if oversold:
        environment.process_exit_code = 1
    if rate_limited:
        print(f"{rate_limited} requests were {RATE_LIMITED}")
        environment.process_exit_code = 1


def _token(client: Any, user: str) -> str | None:
    """An access token from the local identity provider (password grant); None if it is not up
    (the gateway then runs with AUTH_ENABLED=false, as `make dev` does by default)."""
    try:
        reply = client.post(
            f"{ISSUER}/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": CLIENT_ID,
                "username": user,
                "password": user,
            },
        )
    except Exception:
        return None
    return str(reply.json()["access_token"]) if reply.status_code == 200 else None


class Shopper(HttpUser):
    """Browses, searches, asks the assistant, signs in, checks out, looks at and cancels orders."""

    weight = 20
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.email = f"load-{uuid.uuid4().hex[:10]}@example.com"
        self.orders: list[str] = []
        self.auth: dict[str, str] = {}

    def _check(self, response: Any, expected: tuple[int, ...] = (200,)) -> None:
        global rate_limited
        if response.status_code == 429:
            rate_limited += 1
            response.failure(RATE_LIMITED)
        elif response.status_code not in expected:
            response.failure(f"HTTP {response.status_code}: {response.text[:120]}")
        else:
            response.success()

    def _product(self) -> dict[str, Any]:
        return random.choice(catalog)

    @task(10)
    def browse_catalog(self) -> None:
        for page in (1, 2):
            with self.client.get(
                "/api/products",
                params={"page": page, "page_size": 12},
                name="/api/products?page",
                catch_response=True,
            ) as r:
                self._check(r)

    @task(8)
    def product_page(self) -> None:
        product = self._product()
        with self.client.get(
            f"/api/products/{product['id']}", name="/api/products/{id}", catch_response=True
        ) as r:
            self._check(r)
        with self.client.get(
            "/api/ai/recommendations",
            params={"product_id": product["id"]},
            name="/api/ai/recommendations",
            catch_response=True,
        ) as r:
            self._check(r)
        with self.client.get(
            f"/api/inventory/{product['id']}", name="/api/inventory/{id}", catch_response=True
        ) as r:
            self._check(r, (200, 404))

    @task(6)
    def search(self) -> None:
        word = random.choice(SEARCH_WORDS)
        for n in (2, 4):
            with self.client.get(
                "/api/search/autocomplete",
                params={"q": word[:n]},
                name="/api/search/autocomplete",
                catch_response=True,
            ) as r:
                self._check(r)
        with self.client.get(
            "/api/search", params={"q": word}, name="/api/search", catch_response=True
        ) as r:
            self._check(r)

    @task(2)
    def ask_assistant(self) -> None:
        with self.client.post(
            "/api/ai/chat",
            json={"message": random.choice(CHAT_MESSAGES)},
            name="/api/ai/chat",
            catch_response=True,
        ) as r:
            self._check(r)

    @task(2)
    def sign_in(self) -> None:
        with self.client.post(
            f"{ISSUER}/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": CLIENT_ID,
                "username": "customer",
                "password": "customer",
            },
            name="sign in (identity provider)",
            catch_response=True,
        ) as r:
            if r.status_code == 200:
                self.auth = {"authorization": f"Bearer {r.json()['access_token']}"}
            self._check(r)

    @task(3)
    def checkout(self) -> None:
        product = self._product()
        body = {
            "customer_name": "Load Shopper",
            "customer_email": self.email,
            "items": [
                {
                    "product_id": product["id"],
                    "product_name": product["name"],
                    "quantity": 1,
                    "unit_price": product["price"],
                }
            ],
        }
        headers = {**self.auth, "idempotency-key": str(uuid.uuid4())}
        with self.client.post(
            "/api/orders", json=body, headers=headers, name="/api/orders", catch_response=True
        ) as r:
            # Sold out (400, "Insufficient stock ...") is a right answer, not an error.
            self._check(r, (201, 400))
            order = _json(r) if r.status_code == 201 else None
            if order:
                self.orders.append(order["id"])
                # A retry with the same key replays the same order.
                with self.client.post(
                    "/api/orders",
                    json=body,
                    headers=headers,
                    name="/api/orders (replay)",
                    catch_response=True,
                ) as again:
                    self._check(again, (200, 201))

    @task(3)
    def view_orders(self) -> None:
        if not self.orders:
            return
        with self.client.get(
            f"/api/orders/{random.choice(self.orders)}",
            headers=self.auth,
            name="/api/orders/{id}",
            catch_response=True,
        ) as r:
            self._check(r)

    @task(1)
    def cancel_order(self) -> None:
        if not self.orders:
            return
        order_id = self.orders.pop()
        with self.client.patch(
            f"/api/orders/{order_id}/cancel",
            headers=self.auth,
            name="/api/orders/{id}/cancel",
            catch_response=True,
        ) as r:
            self._check(r)


class LastUnitsBuyer(HttpUser):
    """Everyone wants the same product: 20 units, never sold twice."""

    weight = 2
    wait_time = between(0.2, 1.0)

    @task
    def buy_last_unit(self) -> None:
        product_id = race["product_id"]
        if product_id is None:
            return
        body = {
            "customer_name": "Racer",
            "customer_email": "racer@example.com",
            "items": [
                {
                    "product_id": product_id,
                    "product_name": race["name"],
                    "quantity": 1,
                    "unit_price": 19.99,
                }
            ],
        }
        with self.client.post(
            "/api/orders",
            json=body,
            name="/api/orders (last units)",
            headers={"idempotency-key": str(uuid.uuid4())},
            catch_response=True,
        ) as r:
            if r.status_code == 201:
                with race_lock:
                    race["won"] += 1
                r.success()
            elif r.status_code == 400:
                with race_lock:
                    race["refused"] += 1
                r.success()
            elif r.status_code == 429:
                r.failure(RATE_LIMITED)
            else:
                r.failure(f"HTTP {r.status_code}: {r.text[:120]}")


STEPS = [int(n) for n in os.environ.get("LOAD_STEPS", "10,25,50,100").split(",") if n.strip()]


if STEPS:

    class Steps(LoadTestShape):
        """Runs climb in steps (LOAD_STEPS users, LOAD_STEP_SECONDS each), so one run shows where
        p95 crosses 200 ms (loadtest/capacity.py reads the history). LOAD_STEPS= (empty) leaves
        the number of users to the command line or the web UI."""

        steps = STEPS
        step_seconds = float(os.environ.get("LOAD_STEP_SECONDS", "30"))

        def tick(self) -> tuple[int, float] | None:
            n = int(self.get_run_time() // self.step_seconds)
            if n >= len(self.steps):
                return None
            return self.steps[n], float(max(self.steps[n], 5))
