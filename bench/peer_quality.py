"""Peer-group quality: isoforest's results against scikit-learn 1.2.1 on peer_rows
(run by bench/peer_quality, which explains the comparison).

usage: peer_quality.py ROWS_CSV ISOFOREST_CSV SEED N_GROUPS ROWS_PER_GROUP
ROWS_CSV: id, grp, a, b, c, kind (header; test/data/peer_data.sql's peer_rows, by id).
ISOFOREST_CSV: model, id, anomaly_score, is_anomaly (0/1), seconds (header).
Run with /usr/bin/python3 (Debian's python3-sklearn).
"""
import csv
import sys
import time
from collections import defaultdict

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import LabelEncoder

CONTAMINATION = 0.08
MIN_GROUP_ROWS = 64      # isoforest.train's default: smaller groups are scored by the global forest


def metrics(kind, score, flag):
    """recall of 'peer', recall of 'global', precision of the flags, ROC AUC vs kind <> 'normal'"""
    planted = kind != "normal"
    out = {}
    for k in ("peer", "global"):
        n = int((kind == k).sum())
        out[k] = (int((flag & (kind == k)).sum()), n)
    out["flagged"] = int(flag.sum())
    out["precision"] = (flag & planted).sum() / flag.sum() if flag.sum() else float("nan")
    out["auc"] = roc_auc_score(planted, score)
    return out


def sklearn_global(x, grp, seed):
    xg = np.column_stack([x, LabelEncoder().fit_transform(grp)])
    model = IsolationForest(contamination=CONTAMINATION, random_state=seed).fit(xg)
    return -model.score_samples(xg), model.predict(xg) == -1


def sklearn_peer(x, grp, seed):
    score = np.empty(len(x))
    flag = np.zeros(len(x), dtype=bool)
    pooled = []
    for g in np.unique(grp):
        rows = grp == g
        if rows.sum() < MIN_GROUP_ROWS:
            pooled.append(rows)
            continue
        model = IsolationForest(contamination=CONTAMINATION, random_state=seed).fit(x[rows])
        score[rows] = -model.score_samples(x[rows])
        flag[rows] = model.predict(x[rows]) == -1
    if pooled:
        rows = np.logical_or.reduce(pooled)
        model = IsolationForest(contamination=CONTAMINATION, random_state=seed).fit(x)
        score[rows] = -model.score_samples(x[rows])
        flag[rows] = model.predict(x[rows]) == -1
    return score, flag


def pct(found_n):
    found, n = found_n
    return f"{100.0 * found / n:5.1f}% ({found}/{n})" if n else "   n/a"


def main():
    rows_path, iso_path, seed, n_groups, rows_per_group = sys.argv[1:6]
    seed = int(seed)
    with open(rows_path, newline="") as f:
        rows = list(csv.DictReader(f))
    ids = np.array([int(r["id"]) for r in rows])
    grp = np.array([r["grp"] for r in rows])
    kind = np.array([r["kind"] for r in rows])
    x = np.array([[float(r["a"]), float(r["b"]), float(r["c"])] for r in rows])
    position = {i: p for p, i in enumerate(ids)}

    iso = defaultdict(lambda: (np.full(len(ids), np.nan), np.zeros(len(ids), dtype=bool), [0.0]))
    with open(iso_path, newline="") as f:
        for r in csv.DictReader(f):
            score, flag, seconds = iso[r["model"]]
            p = position[int(r["id"])]
            score[p] = float(r["anomaly_score"])
            flag[p] = r["is_anomaly"] == "1"
            seconds[0] = float(r["seconds"])

    results = []
    for name in ("isoforest global", "isoforest peer"):
        score, flag, seconds = iso[name]
        if np.isnan(score).any():
            sys.exit(f"{name}: {int(np.isnan(score).sum())} rows without a score")
        results.append((name, metrics(kind, score, flag), seconds[0]))
    for name, run in (("sklearn global", sklearn_global), ("sklearn peer", sklearn_peer)):
        t0 = time.perf_counter()
        score, flag = run(x, grp, seed)
        results.append((name, metrics(kind, score, flag), time.perf_counter() - t0))

    counts = {k: int((kind == k).sum()) for k in ("normal", "peer", "global")}
    print(f"peer_rows: {n_groups} groups x {rows_per_group} rows = {len(ids)} rows; planted: "
          f"{counts['peer']} peer, {counts['global']} global ({counts['normal']} normal); "
          f"contamination {CONTAMINATION}, seed {seed}; scikit-learn {sklearn.__version__}")
    print("global = one forest on a, b, c, label(grp); peer = one forest on a, b, c per group")
    print()
    header = f"{'model':<17} {'peer recall':>17} {'global recall':>17} {'flagged':>8} {'precision':>9} {'ROC AUC':>8} {'seconds':>8}"
    print(header)
    print("-" * len(header))
    for name, m, seconds in results:
        print(f"{name:<17} {pct(m['peer']):>17} {pct(m['global']):>17} {m['flagged']:>8} "
              f"{m['precision']:>9.3f} {m['auc']:>8.4f} {seconds:>8.2f}")
    print()

    by = {name: m for name, m, _ in results}
    def rec(name, k):
        found, n = by[name][k]
        return 100.0 * found / n if n else float("nan")
    print(f"conclusion: per-group forests catch {rec('isoforest peer', 'peer'):.0f}% of the peer outliers "
          f"(scikit-learn per group {rec('sklearn peer', 'peer'):.0f}%) where one forest with label(grp) "
          f"catches {rec('isoforest global', 'peer'):.0f}% (scikit-learn {rec('sklearn global', 'peer'):.0f}%); "
          f"global outliers {rec('isoforest peer', 'global'):.0f}% vs {rec('isoforest global', 'global'):.0f}%; "
          f"ROC AUC {by['isoforest peer']['auc']:.3f} vs {by['isoforest global']['auc']:.3f} "
          f"(scikit-learn {by['sklearn peer']['auc']:.3f} vs {by['sklearn global']['auc']:.3f}).")


if __name__ == "__main__":
    main()
