-- Malformed text models: each is an ERROR naming the problem, never a crash.
-- A valid base model (one split), then one defect at a time.
CREATE TABLE base AS SELECT '{"format":1,"features":[{"name":"a"},{"name":"b"}],"n_trees":1,"psi":4,
  "sample_size":256,"threshold":0.5,"rows_used":10,
  "trees":[{"feature":[0,1,-1,-1,-1],"threshold":[0.5,2,0,0,0],"left":[1,2,-1,-1,-1],
            "right":[4,3,-1,-1,-1],"size":[4,3,2,1,1]}]}'::jsonb AS j;
SELECT isoforest.info(j::text::isoforest.model)->'n_nodes' AS base_is_valid FROM base;

-- 1. truncated JSON
SELECT left(j::text, 40)::isoforest.model FROM base;
-- 2. not an object
SELECT '[1, 2, 3]'::isoforest.model;
-- 3. unsupported format version
SELECT jsonb_set(j, '{format}', '2')::text::isoforest.model FROM base;
-- 4. a required key missing
SELECT (j - 'trees')::text::isoforest.model FROM base;
-- 5. an unknown key
SELECT (j || '{"colour": "red"}')::text::isoforest.model FROM base;
-- 6. child index out of range
SELECT jsonb_set(j, '{trees,0,right,0}', '9')::text::isoforest.model FROM base;
-- 7. a cycle: a node is its own child
SELECT jsonb_set(j, '{trees,0,left,1}', '1')::text::isoforest.model FROM base;
-- 8. a cycle: a child that points back to its parent
SELECT jsonb_set(jsonb_set(j, '{trees,0,left,1}', '0'), '{trees,0,right,1}', '3')::text::isoforest.model FROM base;
-- 9. a leaf with children
SELECT jsonb_set(j, '{trees,0,left,2}', '3')::text::isoforest.model FROM base;
-- 10. an inner node without children
SELECT jsonb_set(j, '{trees,0,feature,2}', '0')::text::isoforest.model FROM base;
-- 11. NaN threshold (JSON has no NaN; the string is refused)
SELECT jsonb_set(j, '{trees,0,threshold,0}', '"NaN"')::text::isoforest.model FROM base;
-- 12. a threshold too large for float8
SELECT replace(j::text, '"threshold": [0.5', '"threshold": [1e999')::isoforest.model FROM base;
-- 13. negative size
SELECT jsonb_set(j, '{trees,0,size,4}', '-1')::text::isoforest.model FROM base;
-- 14. sizes that disagree with the children
SELECT jsonb_set(j, '{trees,0,size,2}', '5')::text::isoforest.model FROM base;
-- 15. node columns of different lengths
SELECT jsonb_set(j, '{trees,0,threshold}', '[0.5, 2]')::text::isoforest.model FROM base;
-- 16. n_trees above the limit
SELECT jsonb_set(j, '{n_trees}', '10001')::text::isoforest.model FROM base;
-- 17. n_trees that disagrees with the trees
SELECT jsonb_set(j, '{n_trees}', '2')::text::isoforest.model FROM base;
-- 18. a split on a feature the model does not have
SELECT jsonb_set(j, '{trees,0,feature,0}', '2')::text::isoforest.model FROM base;
-- 19. psi that disagrees with the root
SELECT jsonb_set(j, '{psi}', '5')::text::isoforest.model FROM base;
-- 20. a threshold outside [0, 1]
SELECT jsonb_set(j, '{threshold}', '1.5')::text::isoforest.model FROM base;
-- 21. contamination out of range
SELECT jsonb_set(j, '{contamination}', '0.7')::text::isoforest.model FROM base;
-- 22. max_features out of range
SELECT jsonb_set(j, '{max_features}', '0')::text::isoforest.model FROM base;
-- 23. the same feature name twice
SELECT jsonb_set(j, '{features,1,name}', '"a"')::text::isoforest.model FROM base;
-- 24. an unknown transform
SELECT jsonb_set(j, '{features,0,transform}', '"cube"')::text::isoforest.model FROM base;
-- 25. a node with two parents
SELECT '{"format":1,"features":[{"name":"a"}],"n_trees":1,"psi":4,"threshold":0.5,
  "trees":[{"feature":[0,0,0,-1,-1],"threshold":[1,2,3,0,0],"left":[1,3,3,-1,-1],
            "right":[2,4,4,-1,-1],"size":[4,2,2,1,1]}]}'::isoforest.model;
-- 26. a non-integer child index
SELECT jsonb_set(j, '{trees,0,left,0}', '1.5')::text::isoforest.model FROM base;
-- 27. seed that is not an integer
SELECT jsonb_set(j, '{seed}', '"forty-two"')::text::isoforest.model FROM base;
-- 28. more nodes than a tree grown on psi rows can have
SELECT jsonb_set(j, '{psi}', '2')::text::isoforest.model FROM base;
-- 29. labels on a feature that is not label()
SELECT jsonb_set(j, '{features,0,labels}', '["x"]')::text::isoforest.model FROM base;
-- 30. label() dictionary out of order
SELECT jsonb_set(jsonb_set(j, '{features,0,transform}', '"label"'), '{features,0,labels}', '["y", "x"]')::text::isoforest.model
FROM base;
-- 31. an empty string
SELECT ''::isoforest.model;

-- the server is still up, and the base model still scores
SELECT round(isoforest.score(j::text::isoforest.model, ARRAY[0.0, 1.0])::numeric, 6) AS still_up FROM base;
