"""Router latency: ``Router.route`` over 1,000 varied prompts, uncached and cached, against the
Spotify catalogue (~28,000 tracks) and a generated catalogue of 1,000,000 tracks.

    python -m bench.router_latency [--prompts 1000] [--no-million] [--million-size 1000000]
                                   [--data ../shared/data] [--seed 0] [--records FILE]
                                   [--encoder minilm-onnx-int8|minilm]

The realistic router: a temporary SQLite database with the demo project seeded with trained
models (``app.demo.seed_demo``: the intent and safety models serve at once), then the TidyTuesday
Spotify songs imported through the shipped mapping (a new catalogue version that replaces the
demo one), its descriptors encoded once with all-MiniLM-L6-v2 (``--encoder``: int8 ONNX by
default, built into the work folder first; ``minilm`` for PyTorch) and the index built, then
``Router.load``, ``router.warm()`` and ``serving.settle_heap`` (as the app's router cache does:
what is alive then is frozen out of the garbage collector's full collections).

The prompts (deterministic for a ``--seed``, all distinct, shuffled): templates over the slot
lexicon's phrases (moods, activities, genres, eras, tempos, vocals, durations, "like <artist>"
with artists from the catalogue), real CLINC150 test utterances (in scope and out of scope),
AILuminate hazard prompts (most are blocked), requests carrying an e-mail address or a phone
number, and a few long ones (~1,000 characters). Read from the shared data folder, never copied.

Timed, wall-clock per prompt:

* **uncached**: ``route(prompt, use_cache=False)``; in the same loop, just before each route,
  the time to encode the prompt alone (``encoder.encode([prompt])`` on the raw encoder, not
  the router's ``CachingEncoder``). p50/p95/p99, p95 per stage of
  ``decision.timings_ms``. Targets: p95 <= 25 ms and <= 2x the encode p95.
* **cached**: every prompt routed once with the cache on (filling it), then again, timed.
  Target: p95 <= 1 ms.
* **1M tracks** (``--million``, the default): the Spotify frame tiled to ``--million-size``
  rows with new unique track ids, and artist names suffixed by tile (``Drake [7]``) so the
  catalogue has many artists, as a real one would. Its dense vectors are NOT encoded
  (MiniLM at ~500 texts/s would take ~35 min): each is the Spotify descriptor vector of the
  track it copies plus Gaussian noise (sd 0.05 per dimension), re-normalised; what matters for
  latency is the size of the arrays. The router is built without a database
  (``CatalogueIndex.build`` + ``Router(...)``) with the realistic router's safety gate, intent
  model, examples and lexicon. Target: uncached p95 <= 150 ms. Peak memory is the process's
  ``ru_maxrss`` (it includes the encoder and the realistic router).

Outcomes (blocked, out of scope, served, served with a review verdict, served for the music
part of an out-of-scope request) are counted per kind of prompt. The load average is printed
because the figures are wall-clock: another busy process on a 2-core machine can stall the
encoder's threads and inflate the tail many times over. ``--records FILE`` appends one JSON line
per routed prompt (kind, outcome, times) for a closer look.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from app.demo import seed_demo  # noqa: E402
from labeling.ml.encoders import Encoder, make_encoder  # noqa: E402
from labeling.project.authz import Operator  # noqa: E402
from labeling.project.vectors import embed  # noqa: E402
from routing.catalogue_index import CatalogueIndex  # noqa: E402
from routing.default_lexicon import BLOCKED, PHRASES  # noqa: E402
from routing.retrieval import dense_descriptors  # noqa: E402
from routing.router import Router  # noqa: E402
from routing.serving import settle_heap  # noqa: E402
from routing.title_index import TitleIndex  # noqa: E402
from routing.tracks import EXAMPLE_MAPPINGS, import_catalogue, load_catalogue  # noqa: E402
from safety.sources import AILUMINATE_FILE, CLINC_FILE, DEFAULT_DATA  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402

BENCH = Operator("bench")
"""The benchmark acts with the database's own credentials, audited as ``bench``."""
GOAL_UNCACHED_MS = 25.0
GOAL_ENCODE_RATIO = 2.0
GOAL_CACHED_MS = 1.0
GOAL_MILLION_MS = 150.0
SPOTIFY_FILE = "spotify_songs/spotify_songs.csv"
STAGES = ("safety", "encode", "intent", "slots", "retrieval", "ranking", "total")
MIX = {"music": 0.45, "clinc": 0.20, "clinc_oos": 0.12, "hazard": 0.12, "pii": 0.08,
       "long": 0.03}
"""Share of each kind of prompt; the music templates take what rounding leaves."""
VECTOR_NOISE = 0.05
DURATIONS = ("30 minutes", "45 min", "an hour", "1 hour", "2 hours", "90 minutes",
             "half an hour", "20 mins", "3 hours")
TEMPLATES = (
    "{mood} {genre} for {activity}",
    "play some {genre}",
    "{era} {genre} for {duration} of {activity}",
    "songs like {artist}",
    "something {mood} like {artist} for {activity}",
    "{duration} of {mood} music",
    "i need {tempo} {genre} for {activity}, {vocals}",
    "can you make me a playlist of {era} {mood} songs",
    "{activity} music please",
    "music like {artist} but more {mood}",
    "{mood} {vocals} {genre} while i'm {activity}",
    "give me {energy} {era} tracks for {activity}",
    "{genre}",
    "hey, put on {mood} stuff, maybe {genre} or {genre2}, about {duration}",
)
FIRST_NAMES = ("maya", "leo", "nora", "jonah", "iris", "theo", "ruby", "felix", "clara", "milo")
DOMAINS = ("gmail.com", "example.org", "outlook.com", "yahoo.co.uk", "proton.me")
PII_TEMPLATES = (
    "hi it's {name}, email me at {email} a {mood} playlist for {activity}",
    "text {phone} when my {genre} mix is ready",
    "my number is {phone}, i want {era} {genre} for {activity}",
    "{request} and send it to {email}",
    "{clinc}, you can reach me at {phone}",
    "contact {email} or {phone} about {mood} {genre} songs",
)
LONG_OPENERS = (
    "ok so this is a long one, sorry. ", "Let me explain what I need in detail. ",
    "I've been thinking about this for a while and here is the whole story. ",
)
LONG_FILLERS = (
    "Last weekend we drove up the coast and the radio kept playing the same five songs.",
    "My friends say my taste is all over the place, which is probably fair.",
    "I don't really care about the charts, I care about how the music feels.",
    "It has to work in the background without getting boring after an hour.",
    "Honestly I'd rather skip anything too repetitive or with long silent intros.",
    "The room is small, the speakers are okay, and the neighbours go to bed early.",
    "Yesterday I listened to an old album from my teens and it brought back a lot.",
)


# --- prompts -------------------------------------------------------------------------------------

def _phrases() -> dict[str, list[str]]:
    by_slot: dict[str, list[str]] = {}
    for (slot, value), phrases in PHRASES.items():
        if value != BLOCKED:
            by_slot.setdefault(slot, []).extend(phrases)
    return by_slot


def _music(rng: random.Random, phrases: dict[str, list[str]], artists: list[str]) -> str:
    values = {slot: rng.choice(options) for slot, options in phrases.items()}
    values.update(genre2=rng.choice(phrases["genre"]), artist=rng.choice(artists),
                  duration=rng.choice(DURATIONS))
    return rng.choice(TEMPLATES).format(**values)


def _phone(rng: random.Random) -> str:
    return rng.choice((f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
                       f"({rng.randint(200, 989)}) {rng.randint(200, 999)}-"
                       f"{rng.randint(1000, 9999)}",
                       f"+1-{rng.randint(200, 989)}-{rng.randint(200, 999)}-"
                       f"{rng.randint(1000, 9999)}"))


def _pii(rng: random.Random, phrases: dict[str, list[str]], artists: list[str],
         clinc: list[str]) -> str:
    name = rng.choice(FIRST_NAMES)
    email = f"{name}.{rng.randint(1, 999)}@{rng.choice(DOMAINS)}"
    values = {slot: rng.choice(options) for slot, options in phrases.items()}
    return rng.choice(PII_TEMPLATES).format(
        **values, name=name, email=email, phone=_phone(rng),
        request=_music(rng, phrases, artists), clinc=rng.choice(clinc))


def _long(rng: random.Random, phrases: dict[str, list[str]], artists: list[str]) -> str:
    text = rng.choice(LONG_OPENERS)
    target = rng.randint(900, 1100)
    while len(text) < target:
        part = rng.choice(LONG_FILLERS) if rng.random() < 0.6 else \
            f"What I want is {_music(rng, phrases, artists)}."
        text += part + " "
    return text.strip()


def build_prompts(n: int, *, data: Path, artists: list[str], seed: int
                  ) -> list[tuple[str, str]]:
    """``n`` distinct (kind, prompt) pairs in a seeded random order."""
    rng = random.Random(seed)
    splits = json.loads((data / CLINC_FILE).read_text(encoding="utf-8"))
    clinc = sorted({text for text, _ in splits["test"]})
    clinc_oos = sorted({text for text, _ in splits["oos_test"]})
    hazards = sorted(set(pd.read_csv(data / AILUMINATE_FILE)["prompt_text"].astype(str)))
    phrases = _phrases()
    counts = {kind: round(share * n) for kind, share in MIX.items() if kind != "music"}
    counts["music"] = n - sum(counts.values())
    pools = {"clinc": rng.sample(clinc, counts["clinc"]),
             "clinc_oos": rng.sample(clinc_oos, counts["clinc_oos"]),
             "hazard": rng.sample(hazards, counts["hazard"])}
    makers = {"music": lambda: _music(rng, phrases, artists),
              "pii": lambda: _pii(rng, phrases, artists, clinc),
              "long": lambda: _long(rng, phrases, artists)}
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for kind, count in counts.items():
        fixed = iter(pools.get(kind, []))
        added = 0
        while added < count:
            text = next(fixed) if kind in pools else makers[kind]()
            if text not in seen:
                seen.add(text)
                out.append((kind, text))
                added += 1
    rng.shuffle(out)
    return out


# --- routers -------------------------------------------------------------------------------------

def realistic_router(*, work: Path, encoder: Encoder, data: Path
                     ) -> tuple[Router, pd.DataFrame, np.ndarray, dict]:
    """The Spotify router as the app builds it; its tracks, descriptor vectors and timings."""
    facts: dict = {}
    engine = make_engine(f"sqlite:///{work / 'bench.db'}")
    migrate(engine)
    start = time.perf_counter()
    seed_demo(engine=engine, encoder=encoder, models_dir=work / "models")
    facts["seed_s"] = time.perf_counter() - start
    start = time.perf_counter()
    facts["import"] = import_catalogue(engine=engine, path=data / SPOTIFY_FILE,
                                       mapping_path=EXAMPLE_MAPPINGS / "spotify_songs.json",
                                       actor=BENCH)
    facts["import_s"] = time.perf_counter() - start
    info, tracks = load_catalogue(engine=engine, actor=BENCH)
    start = time.perf_counter()
    vectors = embed(engine=engine, actor=BENCH, encoder=encoder, texts=dense_descriptors(tracks))
    facts["encode_s"] = time.perf_counter() - start
    start = time.perf_counter()
    catalogue = CatalogueIndex.build(info, tracks, vectors)
    facts["index_s"] = time.perf_counter() - start
    start = time.perf_counter()
    router = Router.load(engine=engine, encoder=encoder, actor=BENCH, catalogue=catalogue)
    router.warm()
    settle_heap(replaced=False)  # as the app's and the CLI's RouterCache do
    facts["load_s"] = time.perf_counter() - start
    return router, tracks, vectors, facts


def tiled_catalogue(tracks: pd.DataFrame, vectors: np.ndarray, n: int, *, seed: int
                    ) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` tracks copied from ``tracks`` with unique ids and per-tile artist names; their
    vectors are the copied ones plus noise, re-normalised (see the module doc)."""
    source = np.arange(n) % len(tracks)
    tile = np.arange(n) // len(tracks)
    frame = tracks.iloc[source].reset_index(drop=True)
    number = pd.Series(tile).astype(str)
    copy = pd.Series(tile > 0)
    frame["track_id"] = frame["track_id"].astype(str).where(
        ~copy, frame["track_id"].astype(str) + "-" + number)
    frame["artist"] = frame["artist"].astype(str).where(
        ~copy, frame["artist"].astype(str) + " [" + number + "]")
    rng = np.random.default_rng(seed)
    out = np.empty((n, vectors.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        rows = slice(start, min(start + 100_000, n))
        block = vectors[source[rows]] + VECTOR_NOISE * rng.standard_normal(
            (rows.stop - rows.start, vectors.shape[1]), dtype=np.float32)
        block[tile[rows] == 0] = vectors[source[rows]][tile[rows] == 0]
        out[rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return frame, out


def million_router(realistic: Router, tracks: pd.DataFrame, vectors: np.ndarray, n: int, *,
                   seed: int, prompts: list[str]) -> tuple[Router, dict]:
    facts: dict = {}
    start = time.perf_counter()
    frame, big = tiled_catalogue(tracks, vectors, n, seed=seed)
    facts["generate_s"] = time.perf_counter() - start
    facts["artists"] = frame["artist"].nunique()
    start = time.perf_counter()
    catalogue = CatalogueIndex.build(None, frame, big)
    facts["index_s"] = time.perf_counter() - start
    # The gate encodes through the realistic router's CachingEncoder: share it, so the prompt
    # is encoded once per route as in the app.
    router = Router(encoder=realistic.encoder, gate=realistic.gate, intent=realistic.intent,
                    examples=realistic.examples, lexicon=realistic.lexicon, catalogue=catalogue)
    router.warm()
    settle_heap(replaced=False)
    facts["approximate"] = catalogue.index.dense_index.approximate
    facts["recall"] = dense_recall(catalogue, big, realistic.encoder.encode(prompts[:100]))
    return router, facts


def dense_recall(catalogue: CatalogueIndex, vectors: np.ndarray, probes: np.ndarray, *,
                 k: int = 400) -> float:
    """Mean share of the exact top ``k`` (a full scan) that the dense index returns, for the
    ``probes`` (prompt vectors)."""
    found = []
    for probe in probes:
        exact = set(np.argpartition(-(vectors @ probe), k - 1)[:k].tolist())
        found.append(len(exact & set(catalogue.index.dense(probe, k).tolist())) / k)
    return float(np.mean(found))


# --- timing --------------------------------------------------------------------------------------

def uncached(router: Router, encoder: Encoder | None, prompts: list[str]
             ) -> tuple[np.ndarray, np.ndarray, list]:
    """Route times (ms), encode-alone times (ms, empty without ``encoder``) and the results."""
    routes, encodes, results = [], [], []
    for prompt in prompts:
        if encoder is not None:
            start = time.perf_counter()
            encoder.encode([prompt])
            encodes.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        result = router.route(prompt, use_cache=False)
        routes.append((time.perf_counter() - start) * 1000)
        results.append(result)
    return np.array(routes), np.array(encodes), results


def cached(router: Router, prompts: list[str]) -> tuple[np.ndarray, int]:
    for prompt in prompts:
        router.route(prompt)
    times, hits = [], 0
    for prompt in prompts:
        start = time.perf_counter()
        result = router.route(prompt)
        times.append((time.perf_counter() - start) * 1000)
        hits += result.decision.cached
    return np.array(times), hits


# --- printing ------------------------------------------------------------------------------------

def pct(values, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def outcome(result) -> str:
    decision = result.decision
    if decision.fallback:
        return {"out_of_scope": "out of scope"}.get(decision.fallback, decision.fallback)
    if decision.abstain == "out_of_scope":
        return "served (music part)"
    return "served, review" if decision.safety["verdict"] == "review" else "served"


def print_outcomes(kinds: list[str], results: list) -> None:
    names = ["blocked", "out of scope", "served", "served, review", "served (music part)",
             "error", "empty"]
    table = Counter((kind, outcome(r)) for kind, r in zip(kinds, results, strict=True))
    totals = Counter(outcome(r) for r in results)
    shown = [name for name in names if totals[name]]
    print(f"  {'kind':<10}{'n':>6}" + "".join(f"{name:>21}" for name in shown))
    for kind in [*MIX, "all"]:
        count = Counter(kinds)[kind] if kind != "all" else len(kinds)
        cells = [totals[name] if kind == "all" else table[(kind, name)] for name in shown]
        print(f"  {kind:<10}{count:>6}" + "".join(f"{c:>21}" for c in cells))


def print_stages(results: list) -> None:
    print(f"  {'stage':<10}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for stage in STAGES:
        values = [r.decision.timings_ms[stage] for r in results
                  if stage in r.decision.timings_ms]
        print(f"  {stage:<10}{len(values):>6}{pct(values, 50):>10.2f}{pct(values, 95):>10.2f}"
              f"{max(values, default=float('nan')):>10.2f}")


def load() -> str:
    return "load average " + " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1/5/15 min)"


def print_kinds(kinds: list[str], prompts: list[str], routes: np.ndarray,
                encodes: np.ndarray) -> None:
    print(f"  {'kind':<10}{'n':>6}{'chars p50':>11}{'route p50':>11}{'route p95':>11}"
          + (f"{'encode p50':>12}{'encode p95':>12}" if len(encodes) else ""))
    kinds_array = np.array(kinds)
    for kind in MIX:
        rows = kinds_array == kind
        chars = [len(p) for p, keep in zip(prompts, rows, strict=True) if keep]
        line = (f"  {kind:<10}{int(rows.sum()):>6}{pct(chars, 50):>11.0f}"
                f"{pct(routes[rows], 50):>11.2f}{pct(routes[rows], 95):>11.2f}")
        if len(encodes):
            line += f"{pct(encodes[rows], 50):>12.2f}{pct(encodes[rows], 95):>12.2f}"
        print(line)


def write_records(path: Path | None, part: str, kinds: list[str], prompts: list[str],
                  routes: np.ndarray, results: list) -> None:
    """One JSON line per prompt (kind, outcome, route ms, stage timings), when asked."""
    if path is None:
        return
    with path.open("a", encoding="utf-8") as out:
        for kind, prompt, ms, result in zip(kinds, prompts, routes, results, strict=True):
            out.write(json.dumps({"part": part, "kind": kind, "prompt": prompt,
                                  "outcome": outcome(result), "route_ms": round(float(ms), 3),
                                  "timings_ms": result.decision.timings_ms,
                                  "intent": result.decision.intent,
                                  "safety": result.decision.safety["verdict"],
                                  "category": result.decision.safety["category"]}) + "\n")


def title_asks(tracks: pd.DataFrame, *, seed: int, words: int = 100) -> str:
    """The title index's build (done by the router's warm-up) and ``words`` new title words
    asked for ("songs with X in the title"), on a fresh index over ``tracks``."""
    index = TitleIndex(tracks["title"])
    start = time.perf_counter()
    _, _, by_word = index.build()
    built = time.perf_counter() - start
    asked = random.Random(seed).sample(sorted(by_word), min(words, len(by_word)))
    times = []
    for word in asked:
        start = time.perf_counter()
        index.mask(word)
        times.append((time.perf_counter() - start) * 1000)
    return (f"title index build (warm-up) {built:6.2f} s; a new title word p50 / p95 "
            f"{pct(times, 50):.2f} / {pct(times, 95):.2f} ms ({len(asked)} words)")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spotify_part(args, encoder, work: Path
                 ) -> tuple[Router, pd.DataFrame, np.ndarray, list[tuple[str, str]]]:
    router, tracks, vectors, facts = realistic_router(work=work, encoder=encoder, data=args.data)
    imported = facts["import"]
    print(f"demo seeded with trained models  {facts['seed_s']:8.1f} s")
    print(f"spotify import                   {facts['import_s']:8.1f} s  ({imported.rows:,} rows"
          f", {imported.tracks:,} tracks, {imported.duplicates:,} duplicates, "
          f"{imported.skipped} skipped)")
    print(f"encode {len(tracks):,} descriptors      {facts['encode_s']:8.1f} s  "
          f"({len(tracks) / facts['encode_s']:,.0f}/s)")
    print(f"index build (spotify)            {facts['index_s']:8.1f} s")
    print(f"router load + warm               {facts['load_s']:8.1f} s")
    print(f"versions  {router.versions()}")
    artists = sorted(tracks["artist"].astype(str).unique())
    pairs = build_prompts(args.prompts, data=args.data, artists=artists, seed=args.seed)
    kinds, prompts = [k for k, _ in pairs], [p for _, p in pairs]
    lengths = np.array([len(p) for p in prompts])
    print(f"prompts   {len(prompts):,} distinct, length p50 {pct(lengths, 50):.0f} / "
          f"max {lengths.max()} chars")

    full = gc.get_stats()[2]["collections"]
    routes, encodes, results = uncached(router, encoder, prompts)
    full = gc.get_stats()[2]["collections"] - full
    p95, e95 = pct(routes, 95), pct(encodes, 95)
    print(f"\nSpotify catalogue, {len(tracks):,} tracks: uncached route (use_cache=False)")
    print(f"  route p50 / p95 / p99        {pct(routes, 50):7.2f} / {p95:7.2f} / "
          f"{pct(routes, 99):7.2f} ms   (max {routes.max():.1f}; {full} full garbage "
          f"collections, {gc.get_freeze_count():,} objects frozen)")
    print(f"  encode alone p50 / p95       {pct(encodes, 50):7.2f} / {e95:7.2f} ms")
    print(f"  ratio route p95 / encode p95 {p95 / e95:7.2f}")
    print(f"  target p95 <= {GOAL_UNCACHED_MS:g} ms          {verdict(p95 <= GOAL_UNCACHED_MS)}"
          f"  ({p95:.2f} ms)")
    print(f"  target p95 <= {GOAL_ENCODE_RATIO:g}x encode p95  "
          f"{verdict(p95 <= GOAL_ENCODE_RATIO * e95)}  ({p95:.2f} vs "
          f"{GOAL_ENCODE_RATIO * e95:.2f} ms)")
    print("  per stage (decision.timings_ms; a stage counts only the prompts that reach it;")
    print("  'encode' is the prompt's one encoding, also when the safety model asks for it)")
    print_stages(results)
    print("  per kind of prompt")
    print_kinds(kinds, prompts, routes, encodes)
    print(f"  {title_asks(tracks, seed=args.seed)}")
    print(f"  {load()}")
    write_records(args.records, "spotify", kinds, prompts, routes, results)
    print("  outcomes")
    print_outcomes(kinds, results)

    times, hits = cached(router, prompts)
    print(f"\nSpotify catalogue: cached route (second pass, {hits:,}/{len(prompts):,} hits)")
    print(f"  p50 / p95 / p99              {pct(times, 50):7.3f} / {pct(times, 95):7.3f} / "
          f"{pct(times, 99):7.3f} ms")
    print(f"  target p95 <= {GOAL_CACHED_MS:g} ms           "
          f"{verdict(pct(times, 95) <= GOAL_CACHED_MS)}")
    print(f"peak memory so far (ru_maxrss)   {peak_mb():8.0f} MB")
    return router, tracks, vectors, pairs


def million_part(args, realistic: Router, tracks: pd.DataFrame, vectors: np.ndarray,
                 pairs: list[tuple[str, str]]) -> None:
    kinds, prompts = [k for k, _ in pairs], [p for _, p in pairs]
    before = peak_mb()
    music = [p for k, p in pairs if k == "music"]
    router, facts = million_router(realistic, tracks, vectors, args.million_size, seed=args.seed,
                                   prompts=music)
    print(f"\nGenerated catalogue, {args.million_size:,} tracks ({facts['artists']:,} artists): "
          "the Spotify frame tiled with new track ids;")
    print(f"  dense vectors NOT encoded: Spotify descriptor vectors + N(0, {VECTOR_NOISE}) noise,"
          " re-normalised")
    print(f"  generate frame + vectors     {facts['generate_s']:8.1f} s")
    print(f"  index build                  {facts['index_s']:8.1f} s")
    kind = "IVF (faiss, approximate)" if facts["approximate"] else "exact scan"
    print(f"  dense index                  {kind}; recall of the exact top 400: "
          f"{facts['recall']:.3f} (100 music prompts; the generated vectors carry noise of\n"
          "  about their own length, so they cluster less than real ones and IVF finds less)")
    routes, _, results = uncached(router, None, prompts)
    p95 = pct(routes, 95)
    print(f"  route p50 / p95 / p99        {pct(routes, 50):7.2f} / {p95:7.2f} / "
          f"{pct(routes, 99):7.2f} ms   (max {routes.max():.1f})")
    print(f"  target p95 <= {GOAL_MILLION_MS:g} ms         {verdict(p95 <= GOAL_MILLION_MS)}")
    print("  per stage")
    print_stages(results)
    print("  per kind of prompt")
    print_kinds(kinds, prompts, routes, np.zeros(0))
    write_records(args.records, "million", kinds, prompts, routes, results)
    frame = router.catalogue.tracks
    print(f"  {title_asks(frame, seed=args.seed)}")
    print(f"    (the tiled titles repeat Spotify's: {frame['title'].nunique():,} distinct; with "
          "each title made distinct by a number:)")
    numbered = frame.assign(title=frame["title"].astype(str) + " "
                            + pd.Series(np.arange(len(frame)), index=frame.index).astype(str))
    print(f"  {title_asks(numbered, seed=args.seed)}")
    print(f"  peak memory (ru_maxrss)      {peak_mb():8.0f} MB  (before the 1M build: "
          f"{before:.0f} MB)")
    print(f"  {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--million", action=argparse.BooleanOptionalAction, default=True,
                        help="also time a generated 1M-track catalogue (default: on)")
    parser.add_argument("--million-size", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--records", type=Path, default=None,
                        help="append one JSON line per routed prompt to this file")
    parser.add_argument("--encoder", choices=["minilm-onnx-int8", "minilm"],
                        default="minilm-onnx-int8",
                        help="the serving encoder (default: the int8 ONNX one, built into the "
                        "work folder)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="router_latency-"))
    encoder = make_encoder(args.encoder, cache_dir=work / "encoders")
    encoder.encode(["warm up the model"])
    print(f"machine   {os.cpu_count()} cores, {load()}; encoder {encoder.name} (raw, CPU); "
          f"OMP_NUM_THREADS {os.environ.get('OMP_NUM_THREADS', 'unset')} (1 puts the dense "
          "scan on one core)")
    router, tracks, vectors, pairs = spotify_part(args, encoder, work)
    if args.million:
        million_part(args, router, tracks, vectors, pairs)
    print(f"(work files in {work})")


if __name__ == "__main__":
    main()
