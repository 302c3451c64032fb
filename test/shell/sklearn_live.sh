#!/usr/bin/env bash
# scikit-learn parity on fresh data.  tools/sklearn_fixtures.py --random draws a few
# data sets and IsolationForest settings (n, d, ties, duplicates, outliers,
# random_state, n_estimators, contamination, max_samples, max_features, bootstrap)
# from a new seed each run (printed; SKLEARN_LIVE_SEED=N reruns one), fits scikit-learn
# 1.2.1 with Debian's /usr/bin/python3 and pickles each forest (joblib or pickle).
# For each case:
#   isoforest.fit(x, '{"compat":"sklearn",...}' ORDER BY i) on the same rows has
#     1. identical trees, 2. a threshold within 1e-15 of -offset_ (absolute),
#     3. scores within 1e-15 (absolute) of -score_samples on the training rows and
#        200 held-out probes, 4. is_anomaly = (predict == -1) on all of them;
#   tools/sklearn_import.py turns the pickle into JSON that
#     5. loads as isoforest.model and is the fitted model (but for trained_at, and
#        the threshold within 1e-15), 6. scores within 1e-15 and 7. labels as sklearn;
#   8. tools/sklearn_import.py --export turns isoforest's fitted model into an
#     IsolationForest whose score_samples are the original's, bit for bit, with the
#     same predict and an offset_ within 1e-15.
# On an AVX-512 CPU numpy rounds the last bit of some of scikit-learn's scores
# differently from glibc.  A row whose scikit-learn score is within 1e-15 of the
# threshold (often a whole group of rows with the very score offset_ was taken
# from, with a small max_samples) can then land on the other side when isoforest's
# score or threshold is not the same double: such ties are counted in the
# description, not failed.  Every other label must match.
# TAP output; run by test/run (through prove), against the server named by PG*.
# Skipped when /usr/bin/python3 (or $SKLEARN_PYTHON) cannot import scikit-learn.
set -u
cd "$(dirname "$0")/../.."
PY=${SKLEARN_PYTHON:-/usr/bin/python3}     # Debian's python3-sklearn, whatever python3 is first on PATH
if ! "$PY" -c 'import sklearn, joblib, numpy' 2>/dev/null; then
    echo "1..0 # SKIP $PY cannot import sklearn (apt-get install python3-sklearn)"
    exit 0
fi
db=isoforest_sklearn_live
cases=${SKLEARN_LIVE_CASES:-3}
seed=${SKLEARN_LIVE_SEED:-$(( (RANDOM << 15 | RANDOM) ))}
q() { psql -X -q -At -F $'\t' -v ON_ERROR_STOP=1 "$@"; }
export PGOPTIONS="-c client_min_messages=warning"
work=$(mktemp -d /tmp/isoforest_sklearn_live.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "1..$((1 + 8 * cases))"
echo "# seed $seed (SKLEARN_LIVE_SEED=$seed reruns these cases)"
n=0
tap() {     # tap t|f DESCRIPTION [DIAGNOSTIC]
    n=$((n + 1))
    if [ "$1" = t ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
    if [ "$1" != t ] && [ -n "${3:-}" ]; then echo "# $3"; fi
}

if "$PY" tools/sklearn_fixtures.py --random "$seed" --cases "$cases" --workdir "$work" > "$work/cases" 2> "$work/err"; then
    tap t "scikit-learn fits $cases random cases"
    sed 's/^/# /' "$work/cases"
else
    tap f "scikit-learn fits $cases random cases" "$(tr '\n' ' ' < "$work/err")"
    for _ in $(seq $((8 * cases))); do tap f "not run"; done
    exit 0
fi
names=$(cut -d' ' -f1 "$work/cases")

q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q -d $db -f "$work/live.sql" > /dev/null
q -d $db > /dev/null <<'SQL'
CREATE EXTENSION isoforest;
CREATE TABLE models (case_name text, kind text, m isoforest.model, err text);
-- a case whose fit or import fails records its error instead of stopping the script
CREATE FUNCTION live_fit(c text, o jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    INSERT INTO models SELECT c, 'fit', isoforest.fit(r.x, o ORDER BY r.i), NULL FROM skl_rows r WHERE r.case_name = c;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    INSERT INTO models VALUES (c, 'fit', NULL, SQLERRM || coalesce(': ' || nullif(detail, ''), ''));
END $$;
CREATE FUNCTION live_import(c text, js text, importer_error text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    IF js = '' THEN
        INSERT INTO models VALUES (c, 'import', NULL, 'tools/sklearn_import.py failed: ' || importer_error);
        RETURN;
    END IF;
    INSERT INTO models VALUES (c, 'import', js::isoforest.model, NULL);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    INSERT INTO models VALUES (c, 'import', NULL, SQLERRM || coalesce(': ' || nullif(detail, ''), ''));
END $$;
SELECT live_fit(case_name, options) FROM skl_expect ORDER BY case_name;

-- the first node where two lists of trees differ; NULL when they are the same
CREATE FUNCTION first_difference(got jsonb, want jsonb) RETURNS text LANGUAGE sql AS $$
    WITH g AS (SELECT t, k, e, v FROM jsonb_array_elements(got) WITH ORDINALITY a(tree, t),
                    jsonb_each(tree) b(k, arr), jsonb_array_elements(arr) WITH ORDINALITY c(v, e)),
         w AS (SELECT t, k, e, v FROM jsonb_array_elements(want) WITH ORDINALITY a(tree, t),
                    jsonb_each(tree) b(k, arr), jsonb_array_elements(arr) WITH ORDINALITY c(v, e))
    SELECT CASE WHEN got IS NOT DISTINCT FROM want THEN NULL
                WHEN jsonb_typeof(got) IS DISTINCT FROM 'array' THEN 'no trees'
                WHEN jsonb_array_length(got) <> jsonb_array_length(want)
                    THEN format('%s trees, expected %s', jsonb_array_length(got), jsonb_array_length(want))
                ELSE coalesce((SELECT format('tree %s node %s %s: %s, expected %s', t - 1, e - 1, k,
                                             coalesce(g.v::text, 'none'), coalesce(w.v::text, 'none'))
                               FROM g FULL JOIN w USING (t, k, e) WHERE g.v IS DISTINCT FROM w.v
                               ORDER BY t, e, k LIMIT 1), 'the trees differ')
           END
$$;

-- every row a model scores, with scikit-learn's score and label, and whether a
-- different label would be a tie: scikit-learn's score within 1e-15 of its
-- threshold, and isoforest's score or threshold not the same double
CREATE VIEW scored AS
SELECT case_name, kind, score, flagged, sk_score, sk_flagged,
       abs(sk_score - sk_threshold) <= 1e-15 AND (score <> sk_score OR threshold <> sk_threshold) AS tie
FROM (SELECT m.case_name, m.kind, isoforest.score(m.m, r.x) AS score, isoforest.is_anomaly(m.m, r.x) AS flagged,
             e.scores[r.i] AS sk_score, e.labels[r.i] AS sk_flagged, m.threshold, e.threshold AS sk_threshold
      FROM (SELECT *, (m::text::jsonb ->> 'threshold')::float8 AS threshold FROM models) m
      JOIN skl_expect e USING (case_name) JOIN skl_rows r USING (case_name)
      UNION ALL
      SELECT m.case_name, m.kind, isoforest.score(m.m, p.x), isoforest.is_anomaly(m.m, p.x),
             p.score, p.label, m.threshold, e.threshold
      FROM (SELECT *, (m::text::jsonb ->> 'threshold')::float8 AS threshold FROM models) m
      JOIN skl_expect e USING (case_name) JOIN skl_probe p USING (case_name)) rows;
SQL

# the imports (features as text: unquoted names fold to lower case, as f1, f2, ... of the fit)
for c in $names; do
    d=$(q -d $db -c "SELECT cardinality(x) FROM skl_rows WHERE case_name = '$c' LIMIT 1")
    feats=()
    for i in $(seq "$d"); do feats+=("F$i"); done
    "$PY" tools/sklearn_import.py "$work/$c.pkl" "${feats[@]}" > "$work/$c.json" 2> "$work/$c.import.err"
    q -d $db > /dev/null <<SQL
\\set js \`cat $work/$c.json\`
\\set err \`cat $work/$c.import.err\`
SELECT live_import('$c', :'js', :'err');
SQL
done

# one line per check: t|f, description, diagnostic
q -d $db > "$work/checks" <<'SQL'
WITH s AS (
    SELECT case_name, kind,
           max(abs(score - sk_score)) AS max_diff, count(*) AS rows,
           count(*) FILTER (WHERE flagged IS DISTINCT FROM sk_flagged AND tie IS NOT TRUE) AS mismatches,
           count(*) FILTER (WHERE flagged IS DISTINCT FROM sk_flagged AND tie) AS ties,
           count(*) FILTER (WHERE flagged) AS flagged, count(*) FILTER (WHERE sk_flagged) AS sk_flagged
    FROM scored GROUP BY case_name, kind),
c AS (
    SELECT e.case_name, f.m AS fm, f.err AS ferr, i.m AS im, i.err AS ierr, e.trees, e.threshold,
           (f.m::text::jsonb ->> 'threshold')::float8 AS fthr, (i.m::text::jsonb ->> 'threshold')::float8 AS ithr
    FROM skl_expect e JOIN models f ON f.case_name = e.case_name AND f.kind = 'fit'
    JOIN models i ON i.case_name = e.case_name AND i.kind = 'import')
SELECT ord, ok, descr, diag FROM (
    SELECT c.case_name, 1 AS ord, coalesce(first_difference(fm::text::jsonb -> 'trees', trees) IS NULL, false) AS ok,
           c.case_name || ': fit, trees identical' AS descr,
           coalesce(ferr, first_difference(fm::text::jsonb -> 'trees', trees)) AS diag FROM c
    UNION ALL
    SELECT c.case_name, 2, coalesce(abs(fthr - threshold) <= 1e-15, false),
           format('%s: fit, threshold %s within 1e-15 of -offset_ %s', c.case_name, fthr, threshold), ferr FROM c
    UNION ALL
    SELECT c.case_name, 3 + k, coalesce(s.max_diff <= 1e-15, false),
           format('%s: %s, %s scores within 1e-15 of scikit-learn''s, largest difference %s',
                  c.case_name, s.kind, s.rows, s.max_diff), coalesce(s.kind_err, 'no scores')
    FROM c CROSS JOIN LATERAL (SELECT s.*, CASE s.kind WHEN 'fit' THEN c.ferr ELSE c.ierr END AS kind_err,
                                      CASE s.kind WHEN 'fit' THEN 0 ELSE 3 END AS k
                               FROM s WHERE s.case_name = c.case_name) s
    UNION ALL
    SELECT c.case_name, 4 + k, s.mismatches = 0,
           format('%s: %s, is_anomaly = (predict == -1) on %s rows (%s flagged, scikit-learn %s%s)',
                  c.case_name, s.kind, s.rows, s.flagged, s.sk_flagged,
                  CASE WHEN s.ties > 0 THEN format('; %s ties within 1e-15 of the threshold differ', s.ties) ELSE '' END),
           format('%s rows labelled differently', s.mismatches)
    FROM c CROSS JOIN LATERAL (SELECT s.*, CASE s.kind WHEN 'fit' THEN 0 ELSE 3 END AS k
                               FROM s WHERE s.case_name = c.case_name) s
    UNION ALL
    SELECT c.case_name, 5, coalesce((im::text::jsonb - 'trained_at' - 'threshold') = (fm::text::jsonb - 'trained_at' - 'threshold')
                                    AND abs(ithr - fthr) <= 1e-15, false),
           c.case_name || ': tools/sklearn_import.py loads as isoforest.model and equals the fitted model',
           coalesce(ierr, ferr, (SELECT 'keys differ: ' || string_agg(key, ', ' ORDER BY key)
                                 FROM jsonb_each(im::text::jsonb) a FULL JOIN jsonb_each(fm::text::jsonb) b USING (key)
                                 WHERE a.value IS DISTINCT FROM b.value AND key <> 'trained_at')) FROM c
) checks ORDER BY case_name, ord;
SQL
expected=$((7 * cases))
got=$(wc -l < "$work/checks")
[ "$got" = "$expected" ] || echo "# expected $expected checks from SQL, got $got"
while IFS=$'\t' read -r _ ok descr diag; do
    tap "$ok" "$descr" "$diag"
done < "$work/checks"
for _ in $(seq $((expected - got))); do tap f "missing check"; done

# export: isoforest's fitted model -> IsolationForest pickle -> the original's scores
for c in $names; do
    q -d $db -c "SELECT m FROM models WHERE case_name = '$c' AND kind = 'fit'" > "$work/$c.fit.json"
    "$PY" tools/sklearn_import.py --export "$work/$c.fit.json" -o "$work/$c.export.pkl" 2> "$work/$c.export.err"
done
"$PY" - "$work" $names <<'PY' > "$work/export"
import pickle, sys
import joblib, numpy as np
work = sys.argv[1]
for name in sys.argv[2:]:
    try:
        data = np.load("%s/%s.npz" % (work, name))
        orig = joblib.load("%s/%s.pkl" % (work, name))
        with open("%s/%s.export.pkl" % (work, name), "rb") as f:
            back = pickle.load(f)
        problems, ties = [], 0
        for part in ("X", "P"):
            A = data[part]
            if not np.array_equal(orig.score_samples(A), back.score_samples(A)):
                problems.append("score_samples differ on %s" % part)
            differ = orig.predict(A) != back.predict(A)
            # the scores are the same doubles: only a different offset_ can move a tie
            tie = (np.abs(orig.score_samples(A) - orig.offset_) <= 1e-15) & (back.offset_ != orig.offset_)
            ties += int((differ & tie).sum())
            if (differ & ~tie).any():
                problems.append("%d labels differ on %s" % ((differ & ~tie).sum(), part))
        if abs(back.offset_ - orig.offset_) > 1e-15:
            problems.append("offset_ %r, expected %r" % (back.offset_, orig.offset_))
        note = "; %d ties within 1e-15 of offset_ differ" % ties if ties else ""
        print("%s\t%s: --export gives the original score_samples bit for bit, its predict%s\t%s"
              % ("f" if problems else "t", name, note, "; ".join(problems)))
    except Exception as e:
        try:
            with open("%s/%s.export.err" % (work, name)) as f:
                err = " ".join(f.read().split())[-300:]
        except OSError:
            err = ""
        print("f\t%s: --export gives the original score_samples bit for bit, its predict\t%s: %s %s"
              % (name, type(e).__name__, " ".join(str(e).split())[:300], err))
PY
while IFS=$'\t' read -r ok descr diag; do
    tap "$ok" "$descr" "$diag"
done < "$work/export"
for _ in $(seq $((cases - $(wc -l < "$work/export")))); do tap f "missing export check"; done

q -d postgres -c "DROP DATABASE IF EXISTS $db"
