"""A small real upstream for the gateway's integration tests (served by uvicorn on a free
port): it echoes what arrived, answers slowly on demand, streams, and plays order-service for
the ownership rules."""

import asyncio
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

ORDERS = {
    "11111111-1111-1111-1111-111111111111": "customer@example.com",
    "22222222-2222-2222-2222-222222222222": "someone-else@example.com",
}


# Requests that reached this upstream; tests prove refused requests never got here.
HITS = 0


async def echo(request: Request) -> Response:
    global HITS
    HITS += 1
    body = await request.body()
    reply = JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.url.query,
            "headers": [[k.decode(), v.decode()] for k, v in request.headers.raw],
            "body_size": len(body),
            "body_head": body[:64].decode("latin-1"),
            # which instance answered, when several serve one upstream
            "server_port": request.scope["server"][1],
        },
        status_code=int(request.query_params.get("status", "200")),
    )
    reply.headers.append("set-cookie", "a=1")
    reply.headers.append("set-cookie", "b=2")
    reply.headers["x-upstream"] = "echo"
    return reply


async def slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("seconds", "2")))
    return JSONResponse({"slow": True})


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for n in range(5):
            yield f"chunk-{n};".encode()
            await asyncio.sleep(0.01)

    return StreamingResponse(chunks(), media_type="text/plain")


async def order(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    if order_id not in ORDERS:
        return JSONResponse({"detail": f"Order not found: {order_id}"}, status_code=404)
    body = {"id": order_id, "customer_email": ORDERS[order_id], "status": "CONFIRMED"}
    if request.method == "PATCH":
        body["status"] = "CANCELLED"
    return JSONResponse(body)


async def orders_of(request: Request) -> Response:
    return JSONResponse(
        [
            {"id": i, "customer_email": e}
            for i, e in ORDERS.items()
            if e == request.path_params["email"]
        ]
    )


async def health(request: Request) -> Response:
    return JSONResponse({"status": "UP", "service": "echo-upstream"})


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/api/orders/user/{email}", orders_of),
        Route("/api/orders/{order_id}", order, methods=["GET"]),
        Route("/api/orders/{order_id}/cancel", order, methods=["PATCH"]),
        Route("/api/products/slow", slow),
        Route("/api/ai/slow", slow),
        Route("/api/products/stream", stream),
        Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
    ]
)
