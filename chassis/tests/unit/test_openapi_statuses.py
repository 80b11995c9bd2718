"""Every service's OpenAPI declares what the chassis and the gateway may answer."""

from fastapi.testclient import TestClient
from pydantic import BaseModel

from chassis.app import create_app
from chassis.settings import BaseServiceSettings


class Body(BaseModel):
    name: str


def _operations() -> dict[str, dict[str, dict]]:
    app = create_app(BaseServiceSettings(), title="t")

    @app.get("/api/things/{thing_id}", responses={404: {"description": "No such thing"}})
    async def get_thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @app.post("/api/things", status_code=201)
    async def create_thing(body: Body) -> dict[str, str]:
        return {"name": body.name}

    with TestClient(app) as client:
        return client.get("/openapi.json").json()["paths"]


def test_statuses_of_the_chassis_and_the_gateway_are_declared() -> None:
    paths = _operations()
    get_thing = paths["/api/things/{thing_id}"]["get"]["responses"]
    assert {"200", "400", "404", "422", "429", "502", "503", "504"} <= set(get_thing)
    assert get_thing["404"]["description"] == "No such thing"  # the route's own wording wins
    assert "413" not in get_thing  # no body, nothing too large
    create = paths["/api/things"]["post"]["responses"]
    assert {"201", "400", "413", "422", "429", "502", "503", "504"} <= set(create)
    assert "404" not in create
    assert create["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    # Operations outside /api are not behind the gateway's rate limit.
    assert "429" not in paths["/health"]["get"]["responses"]
    assert "503" in paths["/ready"]["get"]["responses"]
