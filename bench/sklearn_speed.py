"""Times scikit-learn's IsolationForest on the rows bench/run exported, and computes
the AUC of scikit-learn and of isoforest against the planted labels.

usage: sklearn_speed.py CSV REPS
CSV columns: x1..x5, outlier (0/1), isoforest score, isoforest is_anomaly (0/1).
Prints key=value lines; only fit and score_samples are timed (best of REPS).
"""
import sys
import time

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score


def best_of(reps, fn):
    times, result = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, result


def main():
    path, reps = sys.argv[1], int(sys.argv[2])
    data = np.loadtxt(path, delimiter=",")
    x = np.ascontiguousarray(data[:, :5])
    label, iso_score, iso_flag = data[:, 5], data[:, 6], data[:, 7]

    def fit():
        return IsolationForest(n_estimators=100, max_samples=256, contamination=0.08,
                               random_state=42, n_jobs=1).fit(x)

    fit_s, fit_all, model = best_of(reps, fit)
    score_s, score_all, scores = best_of(reps, lambda: model.score_samples(x))

    print(f"sklearn_version={sklearn.__version__}")
    print(f"rows={len(x)}")
    print(f"fit_s={fit_s:.4f}")
    print(f"fit_all={' '.join(f'{t:.3f}' for t in fit_all)}")
    print(f"score_s={score_s:.4f}")
    print(f"score_all={' '.join(f'{t:.3f}' for t in score_all)}")
    # score_samples is higher for normal rows: its negation is the anomaly score
    print(f"auc_sklearn={roc_auc_score(label, -scores):.4f}")
    print(f"auc_isoforest={roc_auc_score(label, iso_score):.4f}")
    print(f"flagged_sklearn={np.mean(scores < model.offset_):.4f}")
    print(f"flagged_isoforest={np.mean(iso_flag):.4f}")


if __name__ == "__main__":
    main()
