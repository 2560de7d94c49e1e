#!/usr/bin/env python3
"""Writes the analysis goldens in Fixtures/golden/analysis/ with scikit-learn, pandas and Pillow.

    /opt/ffref/bin/python Scripts/make_analysis_golden.py

Needs numpy, pandas, scikit-learn (>= 1.3) and Pillow. Everything is seeded: rerunning reproduces the files.

metrics.json      Fixed true and predicted labels (one label never predicted, one never true) and what
                  scikit-learn's accuracy_score, precision_recall_fscore_support (per label, macro, weighted;
                  zero_division=0, its default value) and confusion_matrix say about them.
knn/features.csv  60 rows of 12 float32 features in 4 overlapping clusters, written by pandas (not by
                  FruitFeatures), with paths and labels that need CSV quoting (commas, quotes, a line break).
knn/golden.json   A fixed fold assignment (5 folds), the label each row gets from 4-NN (even, so that votes tie) trained on the other
                  folds, scikit-learn's scores of those predictions, and 6 queries against the whole table
                  with their 4 nearest rows, distances and ranked labels.
                  Neighbours come from sklearn.neighbors.NearestNeighbors(algorithm="brute") in float64;
                  votes follow the rule FruitFeatures documents (most votes; a tie goes to the label met first in
                  neighbour order), written out below and checked against KNeighborsClassifier on every row
                  where the vote is not tied.
../../analysis/near_copies/*.jpg
                  Each Fixtures/images photo numbered 0 re-encoded by Pillow at JPEG quality 70: the same fruit,
                  different bytes and pixels. The predict test expects each to come back with its label.
"""
import json
import os

import numpy as np
import pandas as pd
import sklearn
from PIL import Image
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Fixtures")
ROOT = os.path.join(FIXTURES, "golden", "analysis")


def dump(name, value):
    path = os.path.join(ROOT, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=1, sort_keys=True, ensure_ascii=False)
        handle.write("\n")


def scores(truth, predicted, labels):
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0)
    averages = {}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(truth, predicted, labels=labels, average=average, zero_division=0)
        averages[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    return {
        "labels": labels,
        "accuracy": float(accuracy_score(truth, predicted)),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.tolist(),
        "confusion_matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
        "macro": averages["macro"],
        "weighted": averages["weighted"],
    }


def make_metrics(rng):
    # "Fig" is never predicted (precision 0/0), "Guava" is predicted but never true (recall 0/0).
    true_pool = ["Apple", "Banana", "Cherry", "Date", "Fig"]
    truth = list(rng.choice(true_pool, size=80, p=[0.3, 0.25, 0.2, 0.15, 0.1]))
    predicted = []
    for label in truth:
        u = rng.random()
        if label == "Fig":
            predicted.append(str(rng.choice(["Apple", "Guava"])))
        elif u < 0.7:
            predicted.append(label)
        elif u < 0.8:
            predicted.append("Guava")
        else:
            predicted.append(str(rng.choice(["Apple", "Banana", "Cherry", "Date"])))
    truth = [str(t) for t in truth]
    labels = sorted(set(truth) | set(predicted))
    dump("metrics.json", {"true": truth, "predicted": predicted, "sklearn": scores(truth, predicted, labels)})


def vote(neighbour_labels):
    """Most votes; a tie goes to the label that appears first in the (nearest-first) neighbour list."""
    counts = {}
    for label in neighbour_labels:
        counts[label] = counts.get(label, 0) + 1
    best = max(counts.values())
    return next(label for label in neighbour_labels if counts[label] == best)


def nearest(train, queries, k):
    model = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(train)
    distances, indices = model.kneighbors(queries)
    # Order explicitly by (distance, index): the rule FruitFeatures documents for ties.
    ordered = []
    for d, i in zip(distances, indices):
        order = np.lexsort((i, d))
        ordered.append((d[order], i[order]))
    return ordered


def make_knn(rng):
    labels = ["Apple Braeburn", "Banana", "Kiwi", 'Pear "Williams"']
    rows, dim, k, folds = 60, 12, 4, 5
    centres = rng.normal(0, 1.6, size=(len(labels), dim))
    truth = [labels[i % len(labels)] for i in rng.permutation(rows)]
    data = np.stack([centres[labels.index(t)] + rng.normal(0, 2.4, dim) for t in truth]).astype(np.float32)
    paths = [f"fruits/{t}/img_{i:03d}.jpg" for i, t in enumerate(truth)]
    paths[3] = "fruits/odd, name/with \"quotes\".jpg"
    paths[7] = "fruits/line\nbreak.jpg"
    frame = pd.DataFrame({"path": paths, "label": truth})
    for j in range(dim):
        frame[f"feature_{j}"] = data[:, j]
    os.makedirs(os.path.join(ROOT, "knn"), exist_ok=True)
    frame.to_csv(os.path.join(ROOT, "knn", "features.csv"), index=False)
    reread = pd.read_csv(os.path.join(ROOT, "knn", "features.csv"))
    assert (reread[[f"feature_{j}" for j in range(dim)]].to_numpy().astype(np.float32) == data).all()
    assert list(reread["path"]) == paths

    assignment = rng.integers(0, folds, size=rows)
    assert len(set(assignment.tolist())) == folds
    x = data.astype(np.float64)
    predictions = [None] * rows
    sklearn_predictions = [None] * rows
    tied = 0
    for fold in range(folds):
        test = np.flatnonzero(assignment == fold)
        train = np.flatnonzero(assignment != fold)
        train_labels = [truth[i] for i in train]
        found = nearest(x[train], x[test], k)
        classifier = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(x[train], train_labels)
        for row, (_, index), theirs in zip(test, found, classifier.predict(x[test])):
            neighbour_labels = [train_labels[i] for i in index]
            predictions[row] = vote(neighbour_labels)
            sklearn_predictions[row] = str(theirs)
            counts = sorted((neighbour_labels.count(l) for l in set(neighbour_labels)), reverse=True)
            if len(counts) > 1 and counts[0] == counts[1]:
                tied += 1
            else:
                assert predictions[row] == sklearn_predictions[row], row
    assert tied > 0, "want at least one tied vote to exercise the tie rule"

    queries = rng.normal(0, 2.0, size=(6, dim)).astype(np.float32)
    query_answers = []
    for query, (distances, index) in zip(queries, nearest(x, queries.astype(np.float64), k)):
        everything = np.sqrt(((x - query.astype(np.float64)) ** 2).sum(axis=1))
        nearest_per_label = {l: float(min(everything[i] for i in range(rows) if truth[i] == l)) for l in labels}
        votes = {l: sum(1 for i in index if truth[i] == l) for l in labels}
        ranking = sorted(labels, key=lambda l: (-votes[l], nearest_per_label[l]))
        query_answers.append({
            "features": [float(v) for v in query],
            "neighbour_rows": [int(i) for i in index],
            "neighbour_distances": [float(d) for d in distances],
            "ranking": [{"label": l, "votes": votes[l], "nearest_distance": nearest_per_label[l]} for l in ranking],
        })

    dump("knn/golden.json", {
        "neighbour_count": k,
        "fold_count": folds,
        "fold_assignment": assignment.tolist(),
        "predictions": predictions,
        "sklearn_knn_predictions": sklearn_predictions,
        "tied_votes": tied,
        "sklearn": scores(truth, predictions, sorted(set(truth))),
        "queries": query_answers,
        "versions": {"sklearn": sklearn.__version__, "pandas": pd.__version__},
    })


def make_near_copies():
    out = os.path.join(FIXTURES, "analysis", "near_copies")
    os.makedirs(out, exist_ok=True)
    for label in sorted(os.listdir(os.path.join(FIXTURES, "images"))):
        source = os.path.join(FIXTURES, "images", label, "0_100.jpg")
        with Image.open(source) as image:
            image.convert("RGB").save(os.path.join(out, f"{label}_0_100_q70.jpg"), quality=70)


def main():
    rng = np.random.default_rng(20240911)
    make_metrics(rng)
    make_knn(rng)
    make_near_copies()


if __name__ == "__main__":
    main()
