#!/usr/bin/python3
"""A fitted scikit-learn IsolationForest as an isoforest model, and back.

    tools/sklearn_import.py [--labels COLUMN=JSON_ARRAY]... MODEL.pkl [FEATURE ...] > model.json
    tools/sklearn_import.py --export MODEL.json [-o MODEL.pkl]

Import: MODEL.pkl is a joblib or pickle file holding a fitted IsolationForest.  The
output is the model's JSON text (format 1), which PostgreSQL reads as
isoforest.model (in psql: \set js `cat model.json` then :'js'::isoforest.model).
The model carries compat "sklearn": inputs are rounded to float32 as
scikit-learn rounds them, so isoforest.score(m, x) is -score_samples(x) (within the
last bit, see below) and isoforest.is_anomaly(m, x) is predict(x) == -1.

FEATURE is the feature text of each column of X, in order, as isoforest.train takes
it: a column name, optionally wrapped in one transform, e.g. 'amount',
'log1p(total_release_kg)', 'label(industry)', '"Mixed Case"'.  Unquoted names fold
to lower case.  Without FEATURE arguments the names are the model's
feature_names_in_ (when it was fitted on a DataFrame) or f1, f2, ... .  label(col)
needs the training categories, which the forest does not hold: give them with
--labels col='["a","b",...]' (LabelEncoder.classes_, sorted, as isoforest codes
them 0..k-1).

What is carried: every tree (node features mapped to global column indices through
estimators_features_, thresholds as exact doubles, children, n_node_samples),
psi = max_samples_, threshold = -offset_, contamination, random_state as the seed,
bootstrap, max_features (the fraction; an integer max_features k becomes k / d) and
the number of training rows when the estimator recorded it.

Export (--export): the reverse, an isoforest model's JSON text (a file, or - for
stdin) as a pickled IsolationForest whose score_samples, decision_function and
predict give isoforest's score, decision and is_anomaly.  Node features are global,
so every tree is given all columns (estimators_features_ = 0..d-1).  Exact for
compat "sklearn" models; a model trained without compat scores float64 inputs,
which scikit-learn rounds to float32, so a warning is printed.  Peer-grouped models
are refused.

Scores agree to the last bit where numpy's float64 log and pow are glibc's.  Where
numpy 1.24 uses its AVX-512 kernels instead, scikit-learn's scores move by up to
2 ulp (2.2e-16), and so may the label of a row whose score is exactly offset_:
with a float contamination, offset_ is often the score of some training rows
(many of them when max_samples is small), which predict calls inliers (decision
0) while isoforest, computing that score a bit higher, flags them.  A model grown
by isoforest.fit with compat "sklearn" takes its threshold from its own scores and
has no such ties.

Run with Debian's python3 (python3-sklearn 1.2.1); other scikit-learn versions
get a warning.
"""
import argparse
import json
import math
import numbers
import pickle
import re
import sys

TRANSFORMS = ("log1p", "ln", "sqrt", "label")
SKLEARN_VERSION = "1.2.1"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FOLD = str.maketrans(_UPPER, _UPPER.lower())


class ConversionError(Exception):
    """A model or argument that cannot be turned into the other form."""


# --------------------------------------------------------------- features

def _identifier(text, feature):
    """A column name as SQL reads it: "quoted" kept ("" is "), unquoted folded (ASCII)."""
    text = text.strip()
    if text.startswith('"'):
        if len(text) < 3 or not text.endswith('"'):
            raise ConversionError("feature %r: a quoted name must be closed and not empty" % feature)
        inner = text[1:-1]
        if '"' in inner.replace('""', ""):
            raise ConversionError("feature %r: a double quote inside a quoted name is written \"\"" % feature)
        return inner.replace('""', '"')
    if not re.fullmatch(r"[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*", text):
        raise ConversionError("feature %r: expected a column name, optionally in one transform "
                              "(log1p, ln, sqrt, label)" % feature)
    return text.translate(_FOLD)


def parse_feature(feature):
    """'log1p(x)' -> ('x', 'log1p'); 'x' -> ('x', 'none'): isoforest.parse_feature's rules."""
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_$]*)\s*\((.*)\)\s*", feature, re.S)
    if m:
        transform = m.group(1).translate(_FOLD)
        if transform not in TRANSFORMS:
            raise ConversionError("feature %r: unknown transform %r (log1p, ln, sqrt or label)"
                                  % (feature, m.group(1)))
        return _identifier(m.group(2), feature), transform
    return _identifier(feature, feature), "none"


def feature_specs(features, labels):
    """The model's "features" list from feature texts and {column: [labels]}."""
    specs = []
    for text in features:
        name, transform = parse_feature(text)
        if len(name.encode()) > 63:
            raise ConversionError("feature %r: the column name is longer than 63 bytes" % text)
        spec = {"name": name, "transform": transform}
        if transform == "label":
            if name not in labels:
                raise ConversionError("feature %r: label() needs the training categories; give them "
                                      "with --labels %s='[...]' (LabelEncoder.classes_)" % (text, name))
            values = labels[name]
            if [v.encode() for v in values] != sorted({v.encode() for v in values}):
                raise ConversionError("--labels %s: the categories must be distinct and sorted" % name)
            spec["labels"] = values
        if any(s["name"] == name and s["transform"] == transform for s in specs):
            raise ConversionError("feature %r appears twice" % text)
        specs.append(spec)
    unused = set(labels) - {s["name"] for s in specs if s["transform"] == "label"}
    if unused:
        raise ConversionError("--labels for %s, which is not a label() feature" % ", ".join(sorted(unused)))
    return specs


# ------------------------------------------------------------------ trees

def tree_json(estimator, features):
    """One fitted tree in isoforest's shape: global features, leaves -1 / 0.0 / -1 / -1."""
    t = estimator.tree_
    left = t.children_left.tolist()
    right = t.children_right.tolist()
    local = t.feature.tolist()
    thresholds = t.threshold.tolist()
    sizes = t.n_node_samples.tolist()
    features = [int(f) for f in features]
    out = {"feature": [], "threshold": [], "left": [], "right": [], "size": []}
    for i in range(t.node_count):
        leaf = left[i] == -1
        out["feature"].append(-1 if leaf else features[local[i]])
        # + 0.0 turns -0.0 into 0.0: the same comparisons, and isoforest refuses -0
        out["threshold"].append(0.0 if leaf else float(thresholds[i]) + 0.0)
        out["left"].append(-1 if leaf else int(left[i]))
        out["right"].append(-1 if leaf else int(right[i]))
        out["size"].append(int(sizes[i]))
    return out


def forest_trees(forest):
    """Every tree of a fitted IsolationForest, in isoforest's shape and fit order."""
    return [tree_json(e, f) for e, f in zip(forest.estimators_, forest.estimators_features_)]


# ----------------------------------------------------------------- import

def load_pickle(path):
    try:
        import joblib
    except ImportError:
        joblib = None
    try:
        if joblib is not None:
            return joblib.load(path)          # reads plain pickles too
        with open(path, "rb") as f:
            return pickle.load(f)
    except OSError:
        raise
    except Exception as e:
        raise ConversionError("cannot read %s as a joblib or pickle file (%s: %s)"
                              % (path, type(e).__name__, e))


def model_json(forest, features=None, labels=None):
    """The isoforest model (a dict, in isoforest's key order) of a fitted IsolationForest."""
    from sklearn.ensemble import IsolationForest
    if not isinstance(forest, IsolationForest):
        raise ConversionError("the file holds a %s, not an IsolationForest" % type(forest).__name__)
    if not hasattr(forest, "estimators_") or not hasattr(forest, "offset_"):
        raise ConversionError("the IsolationForest is not fitted")
    d = int(forest.n_features_in_)
    if not features:
        names = getattr(forest, "feature_names_in_", None)
        features = ['"%s"' % str(n).replace('"', '""') for n in names] if names is not None \
            else ["f%d" % (i + 1) for i in range(d)]
    if len(features) != d:
        raise ConversionError("the model has %d features but %d were given" % (d, len(features)))
    specs = feature_specs(features, labels or {})

    psi = int(forest.max_samples_)
    trees = forest_trees(forest)
    bootstrap = bool(forest.bootstrap)
    for t, tree in enumerate(trees):
        root = tree["size"][0]
        if root > psi or (not bootstrap and root != psi):
            raise ConversionError("tree %d holds %d rows at its root but max_samples_ is %d (a "
                                  "sample_weight with zeros?); isoforest cannot carry it" % (t, root, psi))

    if isinstance(forest.max_features, numbers.Integral):
        max_features = int(forest._max_features) / d
    else:
        max_features = float(forest.max_features)
    contamination = forest.contamination
    auto = isinstance(contamination, str)
    if not auto:
        contamination = float(contamination)
    seeded = isinstance(forest.random_state, numbers.Integral) and not isinstance(forest.random_state, bool)
    threshold = -float(forest.offset_) + 0.0
    if not (0.0 <= threshold <= 1.0):
        raise ConversionError("offset_ is %r; isoforest needs -offset_ in [0, 1]" % forest.offset_)
    rows = int(getattr(forest, "_n_samples", psi))

    model = {
        "format": 1,
        "n_features": d,
        "features": specs,
        "n_trees": len(trees),
        "sample_size": psi,
        "psi": psi,
        "max_features": max_features,
        "contamination": "auto" if auto else contamination,
        "seed": int(forest.random_state) if seeded else 0,
        "seeded": seeded,
        "threshold": threshold,
        "threshold_source": "auto" if auto else "exact",
        "calibration_rows": 0 if auto else rows,
        "rows_used": rows,
        "rows_skipped": 0,
        "trained_at": None,
        "compat": "sklearn",
    }
    if bootstrap:
        model["bootstrap"] = True
    model["trees"] = trees
    return model


def dumps(model):
    return json.dumps(model, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


# ----------------------------------------------------------------- export

def _tree_depth(left, right):
    depth = [0] * len(left)
    for i in range(len(left)):
        if left[i] != -1:
            depth[left[i]] = depth[right[i]] = depth[i] + 1
    return max(depth)


def sklearn_forest(model):
    """A fitted IsolationForest scoring as the isoforest model (a dict) does."""
    import numpy as np
    from sklearn.ensemble import IsolationForest
    from sklearn.tree import ExtraTreeRegressor
    from sklearn.tree._tree import NODE_DTYPE, Tree

    if model.get("format") != 1:
        raise ConversionError("only format 1 models can be exported")
    if model.get("groups") or model.get("group_column") is not None:
        raise ConversionError("peer-grouped models have one forest per group; scikit-learn has one")
    if model.get("compat") != "sklearn":
        print("warning: this model was trained without compat \"sklearn\": isoforest scores its "
              "inputs as float64 and scikit-learn rounds them to float32, so a few scores may differ",
              file=sys.stderr)
    d = len(model["features"])
    psi = int(model["psi"])
    seeded = bool(model.get("seeded"))
    seed = int(model.get("seed", 0))
    contamination = model.get("contamination", "auto")
    max_features = float(model.get("max_features", 1.0))
    forest = IsolationForest(n_estimators=int(model["n_trees"]), max_samples=psi,
                             contamination=contamination, max_features=max_features,
                             bootstrap=bool(model.get("bootstrap", False)),
                             random_state=seed if seeded and 0 <= seed < 2 ** 32 else None)
    max_depth = int(math.ceil(math.log2(max(psi, 2))))
    estimators = []
    for tree in model["trees"]:
        n = len(tree["feature"])
        nodes = np.zeros(n, dtype=NODE_DTYPE)
        leaf = np.array(tree["feature"]) == -1
        nodes["left_child"] = tree["left"]
        nodes["right_child"] = tree["right"]
        nodes["feature"] = np.where(leaf, -2, tree["feature"])
        nodes["threshold"] = np.where(leaf, -2.0, np.array(tree["threshold"], dtype=np.float64))
        nodes["impurity"] = 0.0
        nodes["n_node_samples"] = tree["size"]
        nodes["weighted_n_node_samples"] = tree["size"]
        t = Tree(d, np.array([1], dtype=np.intp), 1)
        t.__setstate__({"max_depth": _tree_depth(tree["left"], tree["right"]), "node_count": n,
                        "nodes": nodes, "values": np.zeros((n, 1, 1))})
        e = ExtraTreeRegressor(max_features=1, max_depth=max_depth)
        e.tree_ = t
        e.n_features_in_ = d
        e.n_outputs_ = 1
        e.max_features_ = 1
        estimators.append(e)
    template = ExtraTreeRegressor(max_features=1, max_depth=max_depth)
    try:
        forest.estimator_ = template
    except AttributeError:              # 1.2: a read-only property over _estimator
        forest._estimator = template
    forest.estimators_ = estimators
    forest.estimators_features_ = [np.arange(d) for _ in estimators]
    forest.n_features_in_ = d
    forest.max_samples_ = psi
    forest._max_samples = psi
    forest._max_features = d            # node features are global: no per-tree subset
    forest._n_samples = int(model.get("rows_used", psi))
    forest.offset_ = -float(model["threshold"])
    if model.get("compat") == "sklearn" and seeded and 0 <= seed < 2 ** 32 and max_features == 1.0:
        # sklearn's per-tree seeds, from which estimators_samples_ redraws the rows:
        # right for a compat model that used every column (with fewer, the column
        # draw comes first from the same stream, and the columns are not recorded)
        forest._seeds = np.random.RandomState(seed).randint(np.iinfo(np.int32).max,
                                                             size=len(estimators))
    return forest


# ------------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                usage="%(prog)s [--labels COLUMN=JSON]... MODEL.pkl [FEATURE ...]\n"
                                      "       %(prog)s --export MODEL.json [-o MODEL.pkl]")
    p.add_argument("model", help="the pickled IsolationForest (or, with --export, the JSON model; - for stdin)")
    p.add_argument("features", nargs="*", help="the feature text of each column, in order")
    p.add_argument("--labels", action="append", default=[], metavar="COLUMN=JSON",
                   help="the sorted categories of a label(COLUMN) feature, as a JSON array")
    p.add_argument("--export", action="store_true", help="isoforest JSON -> pickled IsolationForest")
    p.add_argument("-o", "--output", help="where --export writes the pickle (default: stdout)")
    a = p.parse_args(argv)
    try:
        import sklearn
        if sklearn.__version__ != SKLEARN_VERSION:
            print("warning: scikit-learn %s; the compat mode follows %s" % (sklearn.__version__, SKLEARN_VERSION),
                  file=sys.stderr)
        if a.export:
            if a.features or a.labels:
                raise ConversionError("--export takes the JSON model only")
            text = sys.stdin.read() if a.model == "-" else open(a.model, encoding="utf-8").read()
            forest = sklearn_forest(json.loads(text))
            if a.output:
                with open(a.output, "wb") as f:
                    pickle.dump(forest, f)
            else:
                pickle.dump(forest, sys.stdout.buffer)
            return 0
        labels = {}
        for item in a.labels:
            column, sep, values = item.partition("=")
            if not sep:
                raise ConversionError("--labels takes COLUMN=JSON_ARRAY, not %r" % item)
            values = json.loads(values)
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ConversionError("--labels %s: give a JSON array of strings" % column)
            labels[_identifier(column, column)] = values
        text = dumps(model_json(load_pickle(a.model), a.features, labels))
        sys.stdout.buffer.write(text.encode("utf-8") + b"\n")
        return 0
    except (ConversionError, OSError, ValueError) as e:
        print("sklearn_import: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
