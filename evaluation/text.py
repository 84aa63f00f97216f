"""Text helpers for the heuristic evaluators: normalization, tokens, sentences, TF-IDF cosine."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

STOPWORDS = frozenset(
    """a an the and or but if then else of to in on at by for with from as is are was were be been being
    it its this that these those there here i you he she we they me him her us them my your his our their
    do does did done have has had having will would shall should can could may might must not no yes so
    than too very just about into over under again further once what which who whom whose when where why
    how all any both each few more most other some such only own same also""".split()
)
NEGATIONS = frozenset({"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "cannot"})
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def normalize_answer(text: str) -> str:
    """SQuAD-style normalization: NFKC, lower case, no punctuation, no articles, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch if ch not in string.punctuation else " " for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Lower-case word tokens (contractions such as ``n't`` expanded to ``not``)."""
    text = unicodedata.normalize("NFKC", text).lower().replace("n't", " not").replace("’", "'")
    return _WORD.findall(text)


def content_tokens(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in STOPWORDS]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s and s.strip()]


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token-level F1 of two normalized texts."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = Counter(pred) & Counter(ref)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def stem(token: str) -> str:
    """A light suffix stripper (plural/verb endings) so that 'cities' meets 'city'."""
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)] + repl
    return token


def terms(text: str) -> list[str]:
    """Stemmed content tokens plus bigrams of them: the TF-IDF vocabulary."""
    words = [stem(t) for t in content_tokens(text)]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


class TfidfSimilarity:
    """Cosine similarity of TF-IDF vectors (sublinear tf, smoothed idf). ``fit`` sets the document
    frequencies from a corpus; unfitted, each comparison uses its own two texts as the corpus."""

    def __init__(self) -> None:
        self._df: Counter[str] = Counter()
        self._n_docs = 0

    def fit(self, corpus: Iterable[str]) -> TfidfSimilarity:
        self._df = Counter()
        self._n_docs = 0
        for doc in corpus:
            self._df.update(set(terms(doc)))
            self._n_docs += 1
        return self

    def _vector(self, text: str, df: Counter[str], n_docs: int) -> dict[str, float]:
        counts = Counter(terms(text))
        return {
            term: (1.0 + math.log(tf)) * (math.log((1 + n_docs) / (1 + df.get(term, 0))) + 1.0)
            for term, tf in counts.items()
        }

    def similarity(self, a: str, b: str) -> float:
        if self._n_docs:
            df, n_docs = self._df, self._n_docs
        else:
            df, n_docs = Counter(set(terms(a))) + Counter(set(terms(b))), 2
        va, vb = self._vector(a, df, n_docs), self._vector(b, df, n_docs)
        return cosine(va, vb)


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(value * b.get(key, 0.0) for key, value in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return max(0.0, min(1.0, dot / norm)) if norm else 0.0


def dense_cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
