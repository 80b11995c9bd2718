"""Floor for product's read: FastAPI + PyMongo's async find_one, the same collection."""

import os

from bson import ObjectId
from fastapi import FastAPI, HTTPException
from pymongo import AsyncMongoClient

client: AsyncMongoClient = AsyncMongoClient(os.environ["FLOOR_MONGODB_URL"])
products = client[os.environ["FLOOR_MONGODB_DB"]]["products"]
app = FastAPI()


@app.get("/api/products/{product_id}")
async def get_product(product_id: str) -> dict:
    document = await products.find_one({"_id": ObjectId(product_id)})
    if document is None:
        raise HTTPException(404, "not found")
    return {**document, "_id": None, "id": str(document["_id"])}
