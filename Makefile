# isoforest: Isolation Forest anomaly detection inside PostgreSQL (PGXS build)

EXTENSION = isoforest
EXTVERSION = 0.1.0

MODULE_big = isoforest
OBJS = \
	src/detect.o \
	src/feature_parse.o \
	src/feature_spec.o \
	src/feature_vector.o \
	src/features.o \
	src/fit_agg.o \
	src/fit_options.o \
	src/fit_state.o \
	src/fit_state_io.o \
	src/forest.o \
	src/group_models.o \
	src/isoforest.o \
	src/json_value.o \
	src/model.o \
	src/model_cache.o \
	src/model_io.o \
	src/model_json.o \
	src/row_features.o \
	src/score.o \
	src/sklearn_forest.o \
	src/threshold.o \
	src/tree_build.o

# Every object depends on every header: the headers are small and few.
$(OBJS): $(wildcard src/*.h)

DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql

# Tests: pg_regress files under test/sql, expected output in expected/.
TESTS = $(sort $(wildcard test/sql/*.sql))
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)

# Scores must be the same bits on every machine: no fast-math, no FMA contraction.
PG_CFLAGS += -ffp-contract=off -fno-fast-math -Wall -Wextra -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

.PHONY: test bench quality
test:
	test/run

bench:
	bench/run

quality:
	bench/quality
