/*
 * tree_build.h
 *		Growing the isolation trees from the aggregate's samples.
 */
#ifndef ISOFOREST_TREE_BUILD_H
#define ISOFOREST_TREE_BUILD_H

#include "fit_state.h"

extern void TreeBuildForest(const FitState *s, int32 psi, IsoForestSpec *spec);

#endif							/* ISOFOREST_TREE_BUILD_H */
