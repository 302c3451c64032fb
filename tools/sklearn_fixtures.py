#!/usr/bin/python3
"""scikit-learn 1.2.1's IsolationForest on fixed data sets, as SQL fixtures for
isoforest's compat "sklearn" mode (test/tap/sklearn_compat.sql loads them).

    /usr/bin/python3 tools/sklearn_fixtures.py [OUT]          (default test/data/sklearn_fixtures.sql)
    /usr/bin/python3 tools/sklearn_fixtures.py --random SEED --cases K --workdir DIR

The output is psql-loadable SQL (\\i) that creates and fills two tables:

    skl_rows(case_name text, i int, x float8[])       the training rows; i = 1..n is the order
    skl_expect(case_name text, options jsonb, trees jsonb, threshold float8,
               scores float8[], labels boolean[])

options is the isoforest.fit options object that asks for the same forest
({"compat":"sklearn","seed":random_state,"n_trees":n_estimators,...}); trees is
every tree in the shape of isoforest's model JSON (node features as global column
indices, leaves with feature -1, threshold 0, children -1); threshold is -offset_;
scores[i] = -score_samples(X)[i] and labels[i] = (predict(X)[i] == -1), X being the
rows in order of i.  Every double is written with repr(), which reads back to the
same bits.  The fit is isoforest.fit(x, options ORDER BY i).

The cases cover the sampling paths of sklearn.utils.random.sample_without_replacement
(a permutation, tracking selection, reservoir sampling), max_samples as "auto", an
int larger than n, an int, a fraction; max_features as a fraction and as an int;
bootstrap; contamination "auto" and numbers; values that are equal once rounded to
float32; heavy ties and a constant column; an all-constant table; random_state
2**32-1; two rows whose random targets nearly coincide, so that the tree
builder's "impurity <= EPSILON" leaf rule fires.  The two 500x5 cases, the
near-tie pairs and the small cases keep sklearn's 100 trees; the others keep 10 to
40, so that the file stays near 4 MB.

The output depends only on the data (seeded numpy RandomState) and on scikit-learn
and numpy; regenerate with Debian's python3 (python3-sklearn 1.2.1, numpy 1.24.2).
On a CPU with AVX-512, numpy 1.24 computes float64 log and pow with its own
kernels, which round the last bit of some scores differently from glibc's; the
script turns them off (NPY_DISABLE_CPU_FEATURES), so the fixtures are the same
on every machine and isoforest, which uses glibc, matches them to the bit.  The
test still compares scores within 1e-15, the difference seen with them on.

--random SEED: instead, K cases with data and parameters drawn from SEED (for
test/shell/sklearn_live.sh).  Writes DIR/live.sql (the two tables above plus
skl_probe(case_name, i, x, score, label): held-out rows scored by scikit-learn),
and for each case DIR/CASE.pkl (the fitted forest, saved with joblib for the 1st,
3rd, ... case and with pickle for the others) and DIR/CASE.npz (arrays X and P: the
training rows and the probes).  numpy's AVX-512 kernels stay as they are.
"""
import argparse
import json
import os
import pickle
import sys
import warnings

# The committed fixtures hold the scores scikit-learn computes where numpy's float64
# log and pow are glibc's (any CPU without AVX-512): so they do not depend on the
# machine that wrote them.  numpy reads this variable when it is imported, hence the
# restart; set NPY_DISABLE_CPU_FEATURES yourself (even empty) to skip it.
NO_AVX512 = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"
if "--random" not in sys.argv and "NPY_DISABLE_CPU_FEATURES" not in os.environ:
    os.environ["NPY_DISABLE_CPU_FEATURES"] = NO_AVX512
    os.execv(sys.executable, [sys.executable] + sys.argv)

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sklearn_import import forest_trees  # noqa: E402  (the same tree shape the importer writes)

EXPECTED = ("1.2.1", "1.24.2")
DEFAULT_OUT = "test/data/sklearn_fixtures.sql"
BIG_TREES = 10          # trees kept for cases of 10,000 rows and more


# ---------------------------------------------------------------- the cases

def near_tie_seed(n, gap):
    """The smallest random_state whose random targets y (n of them) hold a pair closer
    than gap, and that pair: a node holding just those two rows has impurity
    ((y_a - y_b) / 2)^2 <= EPSILON, so it is a leaf however far apart the rows are."""
    for rs in range(1000000):
        y = np.random.RandomState(rs).uniform(size=n)
        order = np.argsort(y, kind="mergesort")
        diffs = np.diff(y[order])
        k = int(np.argmin(diffs))
        if diffs[k] < gap:
            return rs, int(order[k]), int(order[k + 1])
    raise RuntimeError("no random_state found")


def fixed_cases():
    """(name, X, IsolationForest keyword arguments) for the committed fixtures."""
    cases = []
    for seed, contamination in ((0, "auto"), (42, 0.08)):
        X = np.random.RandomState(seed).normal(size=(500, 5))
        cases.append(("normal500x5_seed%d" % seed, X,
                      dict(random_state=seed, contamination=contamination)))

    # 10000 x 3 from 60 distinct rows: duplicates everywhere, column 2 constant, half
    # the rows tied on column 3, and column 1 jittered by 3e-8 (below the splitter's
    # 1e-7 "constant feature" threshold, often below float32 resolution).  256 of 10000
    # rows: sample_without_replacement takes a permutation.
    rng = np.random.RandomState(1234)
    base = np.round(rng.normal(size=(60, 3)), 1)
    X = base[rng.randint(0, 60, size=10000)]
    X[:, 1] = 2.5
    X[rng.permutation(10000)[:5000], 2] = -1.0
    X[:, 0] += rng.randint(0, 2, size=10000) * 3e-8
    cases.append(("dup10000x3", X,
                  dict(random_state=3, contamination=0.1, n_estimators=BIG_TREES)))

    # max_samples larger than n: sklearn warns and takes n (reservoir, no draws)
    rng = np.random.RandomState(55)
    X = rng.uniform(-2, 2, size=(300, 2))
    X[:5] = [[8, 8], [-7, 9], [9, -8], [0, 11], [-10, -10]]
    cases.append(("max_samples500_300x2", X, dict(random_state=9, max_samples=500, n_estimators=30)))

    # "auto" with n < 256: every tree holds every row
    X = np.random.RandomState(66).standard_t(2.5, size=(100, 4))
    cases.append(("auto100x4", X, dict(random_state=123, contamination=0.05)))

    # max_features: a fraction (3 of 5 columns, drawn per tree) and an integer
    rng = np.random.RandomState(77)
    X = rng.normal(size=(500, 5)) * [1, 2, 0.5, 1, 3]
    X[:, 3] = np.round(X[:, 3])
    cases.append(("max_features0.6_500x5", X,
                  dict(random_state=0, max_features=0.6, contamination=0.08, n_estimators=40)))
    cases.append(("max_features2_500x5", X, dict(random_state=4, max_features=2, n_estimators=40)))

    # 100 of 12000 rows: ratio below 0.01, tracking selection (values to 4 decimals,
    # to keep the file small)
    X = np.round(np.random.RandomState(88).lognormal(size=(12000, 2)), 4)
    cases.append(("tracking12000x2", X,
                  dict(random_state=21, max_samples=100, contamination=0.02, n_estimators=BIG_TREES)))

    # 995 of 1000 rows: ratio 0.995, reservoir sampling with draws; 0.3: a fraction;
    # bootstrap: rows drawn with replacement (node sizes count distinct rows)
    X = np.random.RandomState(99).normal(size=(1000, 3))
    cases.append(("reservoir995_1000x3", X, dict(random_state=2, max_samples=995, n_estimators=10)))
    cases.append(("max_samples0.3_1000x3", X,
                  dict(random_state=2, max_samples=0.3, contamination=0.5, n_estimators=30)))
    cases.append(("bootstrap1000x3", X, dict(random_state=6, bootstrap=True, n_estimators=30)))

    # float64 values 1e-9 apart that collide in float32 (their ulp near 1 is 1.2e-7),
    # on a grid of steps 2.5e-7 that do not
    rng = np.random.RandomState(111)
    X = 1.0 + rng.randint(0, 4, size=(400, 2)) * 1e-9 + rng.randint(0, 5, size=(400, 2)) * 2.5e-7
    cases.append(("float32_collide400x2", X, dict(random_state=17, contamination=0.1)))

    # random_state at the top of numpy's range
    X = np.random.RandomState(222).normal(size=(600, 3))
    cases.append(("random_state_max600x3", X, dict(random_state=2 ** 32 - 1, n_estimators=30)))

    # every value equal: each tree is a single leaf
    cases.append(("constant50x2", np.full((50, 2), 7.0), dict(random_state=1, contamination=0.2)))

    # two outlying rows, 1e-4 apart, whose random targets differ by less than 1e-8:
    # isolated from the rest within a few splits, they end in a node that is a leaf
    # by the impurity rule (not by depth, not by equal values).  Below the others
    # they tend to be left children (impurity from direct sums); above them, right
    # children (impurity by subtraction, so its noise must match to the bit).
    rs, a, b = near_tie_seed(200, 1e-8)
    for side, loc in (("low", -25.0), ("high", 25.0)):
        X = np.random.RandomState(333).normal(size=(200, 2))
        X[a] = [loc, loc]
        X[b] = [loc + 1e-4, loc - 1e-4]
        cases.append(("near_tie_%s200x2" % side, X, dict(random_state=rs, contamination=0.05)))
    return cases


def random_cases(seed, count):
    """count cases with data and parameters drawn from seed."""
    rng = np.random.RandomState(seed)
    cases = []
    for k in range(count):
        n = int(rng.randint(2, 3001))
        d = int(rng.randint(1, 7))
        X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d)
        kind = rng.randint(4)
        if kind == 1:                               # heavy ties
            X = np.round(X, 1)
        elif kind == 2:                             # duplicated rows
            X = X[rng.randint(0, max(1, n // 10), size=n)]
        elif kind == 3 and d > 1:                   # a constant column
            X[:, rng.randint(d)] = 1.5
        outliers = rng.rand(n) < 0.03
        X[outliers] = rng.uniform(-30, 30, size=(int(outliers.sum()), d))
        params = dict(random_state=int(rng.randint(0, 2 ** 32, dtype=np.int64)),
                      n_estimators=int(rng.randint(1, 61)))
        if rng.rand() < 0.5:
            params["contamination"] = float(np.round(rng.uniform(0.001, 0.5), 3))
        how = rng.randint(4)
        if how == 1:
            params["max_samples"] = int(rng.randint(1, n + 50))
        elif how == 2:
            f = float(np.round(rng.uniform(0.05, 1.0), 2))
            if int(f * n) >= 1:
                params["max_samples"] = f
        elif how == 3 and n > 300:
            params["max_samples"] = int(rng.randint(1, max(2, n // 100) + 1))   # tracking selection
        if d > 1 and rng.rand() < 0.5:
            if rng.rand() < 0.5:
                params["max_features"] = int(rng.randint(2, d + 1))
            else:
                params["max_features"] = float(np.round(rng.uniform(1.0 / d, 1.0), 2))
        params["bootstrap"] = bool(rng.rand() < 0.3)
        probes = np.vstack([X[rng.randint(0, n, size=50)],
                            rng.normal(size=(100, d)) * X.std(axis=0) * 3 + X.mean(axis=0),
                            rng.uniform(-40, 40, size=(50, d))])
        cases.append(("live%d_n%d_d%d" % (k + 1, n, d), X, params, probes))
    return cases


# ---------------------------------------------------------------- output

def fit(X, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # max_samples > n
        return IsolationForest(**params).fit(X)


def fit_options(params):
    """isoforest.fit's options for IsolationForest(**params)."""
    o = {"compat": "sklearn",
         "seed": params["random_state"],
         "n_trees": params.get("n_estimators", 100),
         "contamination": params.get("contamination", "auto"),
         "max_samples": params.get("max_samples", "auto"),
         "max_features": params.get("max_features", 1.0),
         "bootstrap": params.get("bootstrap", False)}
    if isinstance(o["max_features"], int) and o["max_features"] == 1:
        raise ValueError("isoforest reads max_features 1 as the fraction 1.0, not one feature")
    return o


def array(values):
    return "{" + ",".join(repr(float(v)) for v in values) + "}"


def copy_text(value):
    """A value for COPY's text format (no tabs, newlines or backslashes in ours)."""
    assert not any(c in value for c in "\t\n\\"), value
    return value


def write_sql(out, cases, title, probes=False):
    out.write("-- %s\n" % title)
    out.write("-- Generated by tools/sklearn_fixtures.py with scikit-learn %s and numpy %s; do not edit.\n"
              % (sklearn.__version__, np.__version__))
    out.write("-- Cases (rows x columns, IsolationForest arguments):\n")
    for case in cases:
        name, X, params = case[:3]
        out.write("--   %s: %dx%d %s\n" % (name, X.shape[0], X.shape[1],
                                           ", ".join("%s=%r" % kv for kv in sorted(params.items()))))
    out.write("CREATE TABLE skl_rows (case_name text, i int, x float8[]);\n")
    out.write("CREATE TABLE skl_expect (case_name text, options jsonb, trees jsonb, threshold float8,\n"
              "                         scores float8[], labels boolean[]);\n")
    if probes:
        out.write("CREATE TABLE skl_probe (case_name text, i int, x float8[], score float8, label boolean);\n")
    fitted = []
    out.write("COPY skl_expect FROM stdin;\n")
    for case in cases:
        name, X, params = case[:3]
        forest = fit(X, params)
        fitted.append(forest)
        trees = json.dumps(forest_trees(forest), separators=(",", ":"), allow_nan=False)
        out.write("\t".join(copy_text(v) for v in (
            name, json.dumps(fit_options(params), separators=(",", ":")), trees,
            repr(-float(forest.offset_) + 0.0), array(-forest.score_samples(X)),
            "{" + ",".join("t" if p == -1 else "f" for p in forest.predict(X)) + "}")) + "\n")
    out.write("\\.\n")
    out.write("COPY skl_rows FROM stdin;\n")
    for case in cases:
        name, X = case[:2]
        for i, row in enumerate(X, 1):
            out.write("%s\t%d\t%s\n" % (name, i, array(row)))
    out.write("\\.\n")
    if probes:
        out.write("COPY skl_probe FROM stdin;\n")
        for case, forest in zip(cases, fitted):
            name, P = case[0], case[3]
            scores = -forest.score_samples(P)
            labels = forest.predict(P) == -1
            for i, (row, s, lab) in enumerate(zip(P, scores, labels), 1):
                out.write("%s\t%d\t%s\t%r\t%s\n" % (name, i, array(row), float(s), "t" if lab else "f"))
        out.write("\\.\n")
    return fitted


def epsilon_leaves(forest):
    """Leaves above max_depth holding more than one row: rows equal in every column,
    or (on continuous data) nodes made leaves by the impurity rule."""
    depth_limit = int(np.ceil(np.log2(max(forest.max_samples_, 2))))
    count = 0
    for e in forest.estimators_:
        t = e.tree_
        depth = np.zeros(t.node_count, dtype=int)
        for i in range(t.node_count):
            if t.children_left[i] != -1:
                depth[t.children_left[i]] = depth[t.children_right[i]] = depth[i] + 1
            elif t.n_node_samples[i] > 1 and depth[i] < depth_limit:
                count += 1
    return count


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", default=DEFAULT_OUT)
    p.add_argument("--random", type=int, metavar="SEED", help="random cases from SEED instead")
    p.add_argument("--cases", type=int, default=3)
    p.add_argument("--workdir", help="with --random: where live.sql, the pickles and the arrays go")
    a = p.parse_args()
    if (sklearn.__version__, np.__version__) != EXPECTED:
        print("warning: scikit-learn %s, numpy %s; the fixtures are meant for %s, %s"
              % ((sklearn.__version__, np.__version__) + EXPECTED), file=sys.stderr)
    if a.random is not None:
        if not a.workdir:
            p.error("--random needs --workdir")
        cases = random_cases(a.random, a.cases)
        with open(os.path.join(a.workdir, "live.sql"), "w") as out:
            forests = write_sql(out, cases, "Random cases from seed %d" % a.random, probes=True)
        for k, (case, forest) in enumerate(zip(cases, forests)):
            name, X, params, P = case
            path = os.path.join(a.workdir, name + ".pkl")
            if k % 2 == 0:
                import joblib
                joblib.dump(forest, path)
            else:
                with open(path, "wb") as f:
                    pickle.dump(forest, f)
            np.savez(os.path.join(a.workdir, name + ".npz"), X=X, P=P)
            print("%s %s" % (name, json.dumps(fit_options(params), separators=(",", ":"))))
        return 0
    cases = fixed_cases()
    tmp = a.out + ".tmp"
    with open(tmp, "w") as out:
        forests = write_sql(out, cases, "scikit-learn 1.2.1 IsolationForest fixtures for test/tap/sklearn_compat.sql")
    os.replace(tmp, a.out)
    for (name, X, params), forest in zip(cases, forests):
        print("%-24s %5dx%d psi %4d trees %3d nodes %6d offset_ %-20r flagged %4d eps-leaves %d"
              % (name, X.shape[0], X.shape[1], forest.max_samples_, len(forest.estimators_),
                 sum(e.tree_.node_count for e in forest.estimators_), float(forest.offset_),
                 int((forest.predict(X) == -1).sum()), epsilon_leaves(forest)))
    print("wrote %s (%d bytes)" % (a.out, os.path.getsize(a.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
