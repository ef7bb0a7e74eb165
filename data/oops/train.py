"""Train the oops detector and write its weights to app/campaigns/oops_model.json.

    pip install -e '.[oops-train]' && python data/oops/train.py

Reads data/oops/train.tsv (never eval.tsv: that is only scored, at the end, and printed). The
features are the ones the service computes (``app.campaigns.oops.features``), so training and the
service cannot drift apart. scikit-learn is used here only; the service reads the JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.campaigns import oops  # noqa: E402
from app.campaigns.content import has_opt_out  # noqa: E402

HERE = Path(__file__).parent
MIN_COUNT = 3  # a feature seen in fewer training messages is dropped
C = 1.0  # inverse regularisation strength
KEEP = 0.02  # weights smaller than this are dropped from the shipped model
MAX_FALSE_ALARMS = 0.01  # the threshold lets at most this share of business texts through (cross-validated)


def load(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def matrix(rows, vocabulary):
    indptr, indices = [0], []
    for row in rows:
        cols = {vocabulary[f] for f in oops.features(row["text"], row["brand"], has_opt_out(row["text"])) if f in vocabulary}
        indices += sorted(cols)
        indptr.append(len(indices))
    data = np.ones(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(rows), len(vocabulary)))


WRITTEN_WEIGHT = 3.0  # texts written as texts count more than the public sentences (see README.md)


def sample_weights(rows, y):
    """Each class weighs the same in total; inside the personal class, written texts weigh more."""
    raw = np.array([WRITTEN_WEIGHT if row["source"].startswith("written") else 1.0 for row in rows])
    for label in (0, 1):
        raw[y == label] *= len(y) / (2 * raw[y == label].sum())
    return raw


def fit(x, y, w):
    return LogisticRegression(C=C, max_iter=3000).fit(x, y, sample_weight=w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=oops.MODEL_PATH)
    args = parser.parse_args()
    train = load(HERE / "train.tsv")
    counts: dict[str, int] = {}
    for row in train:
        for feature in oops.features(row["text"], row["brand"], has_opt_out(row["text"])):
            counts[feature] = counts.get(feature, 0) + 1
    vocabulary = {f: i for i, f in enumerate(sorted(f for f, n in counts.items() if n >= MIN_COUNT))}
    x = matrix(train, vocabulary)
    y = np.array([row["label"] == "personal" for row in train], dtype=int)
    w = sample_weights(train, y)

    # The threshold: cross-validated scores of the business texts (marketing and service replies).
    scores = np.zeros(len(train))
    for fold_train, fold_test in StratifiedKFold(5, shuffle=True, random_state=16).split(x, y):
        scores[fold_test] = fit(x[fold_train], y[fold_train], w[fold_train]).decision_function(x[fold_test])
    business = np.sort(scores[y == 0])
    threshold = float(business[int(len(business) * (1 - MAX_FALSE_ALARMS))])
    threshold = max(threshold, 0.0)
    print(f"cross-validated: threshold {threshold:.3f}, personal flagged "
          f"{(scores[y == 1] >= threshold).mean():.1%}, business flagged {(scores[y == 0] >= threshold).mean():.1%}")

    model = fit(x, y, w)
    names = sorted(vocabulary, key=vocabulary.get)
    weights = {name: round(float(w), 3) for name, w in zip(names, model.coef_[0], strict=True) if abs(w) >= KEEP}
    shipped = {
        "about": "oops detector weights; made by data/oops/train.py from data/oops/train.tsv; see docs/oops.md",
        "bias": round(float(model.intercept_[0]), 4),
        "threshold": round(threshold, 4),
        "weights": dict(sorted(weights.items())),
    }
    args.out.write_text(json.dumps(shipped, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{len(weights)} of {len(vocabulary)} features kept, {args.out.stat().st_size // 1024} KiB -> {args.out}")

    shipped_model = oops.Model(shipped["bias"], shipped["threshold"], shipped["weights"])
    for name in ("train.tsv", "eval.tsv"):
        rows = load(HERE / name)
        flagged: dict[str, list[bool]] = {}
        for row in rows:
            hit = oops.assess(row["text"], row["brand"], has_opt_out(row["text"]), shipped_model).personal
            flagged.setdefault(row["label"], []).append(hit)
            flagged.setdefault(f"  {row['label']}/{row['source']}", []).append(hit)
        print(name)
        for key in sorted(flagged, key=lambda k: (k.strip().split("/")[0], k.startswith(" "), k)):
            hits = flagged[key]
            print(f"  {key:40} flagged {sum(hits):5}/{len(hits):5} = {sum(hits) / len(hits):6.1%}")


if __name__ == "__main__":
    main()
