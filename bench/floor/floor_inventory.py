"""Floor for inventory's read: FastAPI + an asyncpg pool of 32, the same query and reply shape."""

import os
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, HTTPException

pool: asyncpg.Pool


@asynccontextmanager
async def lifespan(_: FastAPI):
    global pool
    pool = await asyncpg.create_pool(os.environ["FLOOR_DSN"], min_size=1, max_size=32)
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/api/inventory/{product_id}")
async def get_item(product_id: str) -> dict:
    row = await pool.fetchrow("SELECT * FROM inventory WHERE product_id = $1", product_id)
    if row is None:
        raise HTTPException(404, "not found")
    return {**dict(row), "available_qty": row["quantity"] - row["reserved_qty"]}
