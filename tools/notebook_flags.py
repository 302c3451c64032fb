#!/usr/bin/python3
"""The analysts' notebook pipeline in scikit-learn 1.2.1 on the 2023 TRI facilities:
writes the facility ids it flags, the fixture of test/tap/notebook_exact.sql.

Rows: reporting year 2023 of data/tri/tri_il_facility_years.csv.gz, in file order
(ascending facility_id, which is the order train(compat => 'sklearn', key =>
'facility_id') feeds them; checked here).  Features: log1p(total_release_kg),
log1p(release_count), n_chemicals, LabelEncoder(industry), risk_score.  Model:
IsolationForest(contamination=0.08, random_state=42), every other argument at its
default; flagged = predict(X) == -1.

Writes OUT (default test/data/tri_2023_notebook_flags.csv): a header line
"facility_id", then the flagged ids in ascending (byte) order, nothing else.
Prints the number flagged and the threshold -offset_.

Run with Debian's python3 (python3-sklearn 1.2.1), whatever python3 is first on PATH:
    /usr/bin/python3 tools/notebook_flags.py [TRI_CSV_GZ [OUT]]
"""
import csv
import gzip
import os
import sys

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import LabelEncoder

EXPECTED_SKLEARN = "1.2.1"


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tri_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "data/tri/tri_il_facility_years.csv.gz")
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "test/data/tri_2023_notebook_flags.csv")
    if sklearn.__version__ != EXPECTED_SKLEARN:
        sys.exit(f"scikit-learn {sklearn.__version__}, not {EXPECTED_SKLEARN}: run with /usr/bin/python3")

    with gzip.open(tri_path, "rt", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["year"] == "2023"]   # file order
    ids = [r["facility_id"] for r in rows]
    if len(set(ids)) != len(ids):
        sys.exit("facility_id is not unique among the 2023 rows")
    # train(compat => 'sklearn') orders by the key in byte order (COLLATE "C")
    if ids != sorted(ids, key=lambda s: s.encode("utf-8")):
        sys.exit("the 2023 rows are not in ascending facility_id order in the file; "
                 "the fixture would not describe train(compat => 'sklearn')")

    industry_code = LabelEncoder().fit_transform([r["industry"] for r in rows])
    x = np.column_stack([
        np.log1p([float(r["total_release_kg"]) for r in rows]),
        np.log1p([float(r["release_count"]) for r in rows]),
        [float(r["n_chemicals"]) for r in rows],
        industry_code.astype(float),
        [float(r["risk_score"]) for r in rows],
    ])

    model = IsolationForest(contamination=0.08, random_state=42).fit(x)
    flagged = sorted((i for i, p in zip(ids, model.predict(x)) if p == -1), key=lambda s: s.encode("utf-8"))

    with open(out_path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["facility_id"])
        for i in flagged:
            w.writerow([i])

    print(f"sklearn {sklearn.__version__}, numpy {np.__version__}: {len(ids)} facilities (2023), "
          f"{len(set(industry_code))} industries")
    print(f"flagged: {len(flagged)}")
    print(f"threshold -offset_: {-model.offset_!r}")
    print(f"written: {os.path.relpath(out_path)}")


if __name__ == "__main__":
    main()
