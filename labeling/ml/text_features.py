"""A classifier that reads the text as well as its embedding.

Features: TF-IDF of character 2-5-grams and word 1-2-grams of the folded text
(``labeling.text.normalise.fold``: de-obfuscated, lowercase), a few tone signals (sentiment from
VADER's lexicon, hits of better-profanity's word list, and whether the text addresses someone
as "you"), and the sentence embedding, stacked in one logistic regression.

Sentence embeddings alone lose to a plain character n-gram model on abusive language (insults,
slurs and sexual harassment are carried by surface forms the embedding smooths away); the stack
keeps both, and the tone signals carry what a few thousand labels cannot teach (a lexicon of
swear words, negativity aimed at the listener).

Fitting is cross-validated: one member per fold, each trained on the other folds. Their
out-of-fold logits fit the temperature and tune decision thresholds, and the classifier's
probability is the mean of its members' calibrated probabilities, so the thresholds are tuned on
the same kind of predictions they are applied to.

The active-learning strategies score pools of embeddings only, so the classifier carries an
embedding-only model too: ``predict_proba(X)`` is that model (the queue's view), and
``predict_proba_texts(texts, X)`` is the full one (evaluation, suggestions, the safety policy).
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion

from labeling.ml.calibration import fit_temperature, logits_of, softmax
from labeling.ml.classifier import predict_proba_fast
from labeling.text.normalise import fold

TEXT_C = 10.0
"""Inverse L2 strength over the stacked features (chosen by cross-validation on ConvAbuse's
training share: C 5 / 10 / 20 were within 0.01 of each other in out-of-fold unsafe F1)."""
FOLDS = 5
ABSENT = -1e4
"""The logit of a class a member never saw (its probability is then zero)."""
FAST_ROWS = 16
"""Calls with up to this many texts are scored by ``_Scorer`` (a dictionary lookup per n-gram)
instead of scikit-learn's transform and decision function, whose fixed cost per call
(validation, joblib dispatch, sparse stacking: about 5 ms per member) dominated the router's
time for one prompt. Both give the same probabilities; a test holds them equal."""


class _Tone:
    """The lexicons behind ``ToneFeatures``, loaded once per process."""

    _lock = threading.Lock()
    _loaded: tuple[Any, re.Pattern[str]] | None = None

    @classmethod
    def get(cls) -> tuple[Any, re.Pattern[str]]:
        with cls._lock:
            if cls._loaded is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                words = (resources.files("better_profanity") / "profanity_wordlist.txt"
                         ).read_text(encoding="utf-8").split()
                folded = sorted({fold(w) for w in words if len(w) > 2 and fold(w)}, key=len,
                                reverse=True)
                pattern = re.compile(r"(?<![a-z0-9])(?:" + "|".join(map(re.escape, folded))
                                     + r")(?![a-z0-9])")
                cls._loaded = (SentimentIntensityAnalyzer(), pattern)
            return cls._loaded


_YOU = re.compile(r"(?<![a-z])(?:you|u|ur|your|youre|yourself|ya)(?![a-z])")


class ToneFeatures(TransformerMixin, BaseEstimator):
    """Seven tone signals per text, each in [0, 1]: profanity hits (capped at 3, and any),
    VADER's negative share and negative compound score, second-person address, and address
    times negativity and times profanity. Stateless: ``fit`` learns nothing."""

    def fit(self, X: Any, y: Any = None) -> ToneFeatures:  # noqa: ARG002
        return self

    def transform(self, X: Sequence[str]) -> np.ndarray:
        analyzer, profanity = _Tone.get()
        rows = []
        for text in X:
            folded = fold(str(text))
            scores = analyzer.polarity_scores(str(text))
            hits = len(profanity.findall(folded))
            you = 1.0 if _YOU.search(folded) else 0.0
            rows.append((min(hits, 3) / 3, float(hits > 0), scores["neg"],
                         -min(scores["compound"], 0.0), you, you * scores["neg"],
                         you * float(hits > 0)))
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), 7)


class CompactTfidfVectorizer(TfidfVectorizer):
    """A ``TfidfVectorizer`` whose fitted vocabulary is saved as two arrays (terms, columns)
    instead of a dict: skops writes a dict entry by entry into the file's schema (a model with
    five n-gram vocabularies made a 240 MB file that took 13 s to load), arrays as ``.npy``."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__ itself
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            state["vocabulary_terms_"] = np.asarray(list(vocabulary), dtype=str)
            state["vocabulary_columns_"] = np.fromiter(vocabulary.values(), dtype=np.int64,
                                                       count=len(vocabulary))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        terms = state.pop("vocabulary_terms_", None)
        columns = state.pop("vocabulary_columns_", None)
        super().__setstate__(state)
        if terms is not None:
            self.vocabulary_ = dict(zip(terms.tolist(), columns.tolist(), strict=True))


def make_vectorizer() -> FeatureUnion:
    """Character 2-5-grams within word boundaries and word 1-2-grams of the folded text (the
    tone signals are added once per call, outside: they have nothing to fit)."""
    return FeatureUnion([
        ("char", CompactTfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5),
                                        sublinear_tf=True, min_df=2, preprocessor=fold,
                                        dtype=np.float32)),
        ("word", CompactTfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                        preprocessor=fold, token_pattern=r"(?u)\b\w+\b",
                                        dtype=np.float32)),
    ])


def _dense_array(texts: Sequence[str], X: np.ndarray) -> np.ndarray:
    """The features every member shares: the tone signals and the embedding."""
    return np.hstack([ToneFeatures().transform(texts), np.asarray(X, dtype=np.float32)])


def _dense(texts: Sequence[str], X: np.ndarray) -> sparse.csr_matrix:
    return sparse.csr_matrix(_dense_array(texts, X))


def _stack(vectorizer: FeatureUnion, texts: Sequence[str], dense: sparse.csr_matrix
           ) -> sparse.csr_matrix:
    return sparse.hstack([sparse.csr_matrix(vectorizer.transform(list(texts))), dense]).tocsr()


def _fit_member(texts: Sequence[str], dense: sparse.csr_matrix, y: np.ndarray, *, C: float,
                seed: int) -> tuple[FeatureUnion, LogisticRegression]:
    vectorizer = make_vectorizer().fit(list(texts))
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed)
    model.fit(_stack(vectorizer, texts, dense), y)
    return vectorizer, model


def _member_logits(member: tuple[FeatureUnion, LogisticRegression], texts: Sequence[str],
                   dense: sparse.csr_matrix, classes: np.ndarray) -> np.ndarray:
    vectorizer, model = member
    out = np.full((len(texts), len(classes)), ABSENT)
    out[:, np.searchsorted(classes, model.classes_)] = logits_of(
        model, _stack(vectorizer, texts, dense))
    return out


class _Scorer:
    """The members' logits for a few texts, computed directly from their fitted parts.

    Every member's vectorizers share their settings (only vocabularies and idf weights differ),
    so each text is analysed into n-grams once per vectorizer kind, looked up once in a table
    that holds, per n-gram, every member's idf weight and class coefficients side by side (zero
    where a member does not know it), and all members are scored at once: sublinear tf, idf and
    the l2 norm exactly as ``TfidfVectorizer`` applies them, then the dot product with the
    coefficients. One gather per text and kind instead of a dozen numpy calls per member, and a
    n-gram's numbers for all members sit together in memory. ``build`` returns None for any
    model whose parts differ from what this assumes; such models keep the scikit-learn path.
    """

    def __init__(self, analyzers: dict[str, Any], grams: dict[str, dict[str, int]],
                 tables: dict[str, tuple[np.ndarray, bool]], dense: list[tuple],
                 classes: np.ndarray) -> None:
        self.analyzers, self.grams, self.tables = analyzers, grams, tables
        self.dense, self.classes = dense, classes

    @classmethod
    def build(cls, model: TextFeatureClassifier) -> _Scorer | None:
        first = model.members[0][0]
        settings = [(name, vec.get_params()) for name, vec in first.transformer_list]
        classes = np.asarray(model.classes_)
        # one numbering of every member's n-grams per analyser kind
        grams: dict[str, dict[str, int]] = {name: {} for name, _ in settings}
        for union, _ in model.members:
            for name, vec in union.transformer_list:
                numbering = grams[name]
                for gram in getattr(vec, "vocabulary_", {}):
                    numbering.setdefault(gram, len(numbering))
        width = max(np.atleast_2d(estimator.coef_).shape[0] for _, estimator in model.members)
        tables = {name: (np.zeros((len(grams[name]), len(model.members), 1 + width)),
                         bool(vec.sublinear_tf)) for name, vec in first.transformer_list}
        dense = []
        for m, (union, estimator) in enumerate(model.members):
            if union.transformer_weights is not None or [
                    (name, vec.get_params()) for name, vec in union.transformer_list] != settings:
                return None
            coef = np.asarray(estimator.coef_, dtype=np.float64)
            offset = 0
            for name, vec in union.transformer_list:
                if not (vec.use_idf and vec.norm == "l2" and hasattr(vec, "idf_")):
                    return None
                idf = np.asarray(vec.idf_, dtype=np.float64)
                if coef.ndim != 2 or coef.shape[1] <= offset + len(idf):
                    return None
                numbers = np.array([grams[name][g] for g in vec.vocabulary_], dtype=np.int64)
                cols = np.fromiter(vec.vocabulary_.values(), dtype=np.int64, count=len(numbers))
                table = tables[name][0]
                table[numbers, m, 0] = idf[cols]
                table[numbers, m, 1:1 + len(coef)] = coef[:, offset + cols].T
                offset += len(idf)
            dense.append((coef[:, offset:], np.asarray(estimator.intercept_, dtype=np.float64),
                          np.searchsorted(classes, estimator.classes_)))
        analyzers = {name: vec.build_analyzer() for name, vec in first.transformer_list}
        return cls(analyzers, grams, tables, dense, classes)

    def _counted(self, text: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per analyser kind, the numbers of the text's known n-grams and their counts."""
        out = {}
        for name, analyze in self.analyzers.items():
            numbering = self.grams[name]
            hits = [(numbering[g], c) for g, c in Counter(analyze(text)).items()
                    if g in numbering]
            out[name] = (np.array([h[0] for h in hits], dtype=np.int64),
                         np.array([h[1] for h in hits], dtype=np.float64))
        return out

    def _ngram_scores(self, grams: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """``(members, width)``: each member's n-gram part of the logits for one text."""
        out = 0.0
        for name, (table, sublinear) in self.tables.items():
            numbers, counts = grams[name]
            if not numbers.size:
                continue
            rows = table[numbers]  # (n-grams, members, 1 + width)
            tf = 1.0 + np.log(counts) if sublinear else counts
            weights = tf[:, None] * rows[:, :, 0]  # tf-idf; 0 where a member lacks the n-gram
            norms = np.sqrt(np.einsum("gm,gm->m", weights, weights))
            norms[norms == 0] = 1.0
            out = out + np.einsum("gm,gmc->mc", weights, rows[:, :, 1:]) / norms[:, None]
        return out

    def logits(self, texts: Sequence[str], dense: np.ndarray) -> list[np.ndarray]:
        """Per member, ``(n, n_classes)`` logits (``ABSENT`` for a class it never saw)."""
        ngram = [self._ngram_scores(self._counted(text)) for text in texts]
        out = []
        for m, (coef, intercept, columns) in enumerate(self.dense):
            scores = np.tile(intercept, (len(texts), 1))
            scores += dense @ coef.T
            for row, part in enumerate(ngram):
                if not np.isscalar(part):
                    scores[row] += part[m, :len(coef)]
            if scores.shape[1] == 1:  # binary: decision_function's z is the second class
                scores = np.hstack([np.zeros_like(scores), scores])
            full = np.full((len(texts), len(self.classes)), ABSENT)
            full[:, columns] = scores
            out.append(full)
        return out


_SCORERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SCORERS_LOCK = threading.Lock()


def _scorer(model: TextFeatureClassifier) -> _Scorer | None:
    """The model's ``_Scorer`` (built once; kept beside the model, never saved with it)."""
    with _SCORERS_LOCK:
        if model not in _SCORERS:
            _SCORERS[model] = _Scorer.build(model) or False
        return _SCORERS[model] or None


class TextFeatureClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regressions over n-gram TF-IDF, tone signals and the embedding, averaged.

    Parameters
    ----------
    members
        ``(vectorizer, estimator)`` pairs, each fitted on part of the training rows.
    labels
        All classes, sorted (a member may have missed one).
    embedding_model
        A fitted classifier over embeddings alone with the same classes (the queue's view).
    temperature
        Divides every member's logits.
    """

    def __init__(self, members: Any = None, labels: Any = None, embedding_model: Any = None,
                 *, temperature: float = 1.0) -> None:
        self.members = members
        self.labels = labels
        self.embedding_model = embedding_model
        self.temperature = temperature

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.labels)

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self.members)

    def fit(self, X: np.ndarray, y: Any) -> TextFeatureClassifier:  # noqa: ARG002
        raise TypeError("fit a TextFeatureClassifier with fit_text_features(texts, X, y)")

    def predict_proba_texts(self, texts: Sequence[str], X: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities from the texts and their embeddings (the mean of
        the members' softmax at the fitted temperature)."""
        texts = [str(t) for t in texts]
        if len(texts) != len(X):
            raise ValueError(f"{len(texts)} texts but {len(X)} embedding rows")
        if not texts:
            return np.zeros((0, len(self.classes_)))
        scorer = _scorer(self) if len(texts) <= FAST_ROWS else None
        if scorer is not None:
            logits = scorer.logits(texts, _dense_array(texts, X).astype(np.float64))
        else:
            classes, dense = self.classes_, _dense(texts, X)
            logits = [_member_logits(m, texts, dense, classes) for m in self.members]
        return np.mean([softmax(z / self.temperature) for z in logits], axis=0)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The embedding-only model's probabilities (for pools scored without their texts)."""
        return self.embedding_model.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.embedding_model.predict(X)


@dataclass(frozen=True)
class TextFit:
    model: TextFeatureClassifier
    oof_proba: np.ndarray
    """Out-of-fold calibrated probabilities of every training row (for threshold tuning); the
    in-sample ones when there were too few rows to cross-validate (``folds`` 0)."""
    folds: int


def fold_count(y: np.ndarray, folds: int = FOLDS) -> int:
    """How many folds the rarest class allows (0: too few rows to cross-validate)."""
    smallest = int(np.unique(y, return_counts=True)[1].min())
    return min(folds, smallest) if smallest >= 2 else 0


def fit_text_features(texts: Sequence[str], X: np.ndarray, y: Sequence[str], *,
                      embedding_model: Any, C: float = TEXT_C, folds: int = FOLDS,
                      seed: int = 0) -> TextFit:
    """Fit one member per fold, the temperature on their out-of-fold logits.

    With a class too rare for two folds a single member is fitted on every row and the
    temperature stays 1.0.
    """
    texts = [str(t) for t in texts]
    labels = np.asarray(list(y), dtype=object)
    classes = np.unique(labels)
    X = np.asarray(X, dtype=np.float32)
    k = fold_count(labels, folds)
    dense = _dense(texts, X)
    if k < 2:
        member = _fit_member(texts, dense, labels, C=C, seed=seed)
        model = TextFeatureClassifier([member], classes, embedding_model)
        return TextFit(model=model, oof_proba=model.predict_proba_texts(texts, X), folds=0)
    members, logits = [], np.zeros((len(labels), len(classes)))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, held in splitter.split(X, labels):
        member = _fit_member([texts[i] for i in train], dense[train], labels[train], C=C,
                             seed=seed)
        logits[held] = _member_logits(member, [texts[i] for i in held], dense[held], classes)
        members.append(member)
    model = TextFeatureClassifier(members, classes, embedding_model)
    model.temperature = fit_temperature(logits, np.searchsorted(classes, labels))
    return TextFit(model=model, oof_proba=softmax(logits / model.temperature), folds=k)


def predict_proba_for(model: Any, texts: Sequence[str] | None, X: np.ndarray) -> np.ndarray:
    """Class probabilities from the texts too where the model reads them, else from ``X``."""
    inner = getattr(model, "model", model)  # a FastProbaClassifier's model
    if texts is not None and hasattr(inner, "predict_proba_texts"):
        return np.asarray(inner.predict_proba_texts(list(texts), X))
    return predict_proba_fast(model, X)
