/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — umbrella header: include this one.
 *
 *     `#include <genmodel/genmodel.h>`
 *
 * See core.h for the conventions every function follows (status codes,
 * the thread-local last error, ownership and threading).
 */
#ifndef GENMODEL_GENMODEL_H
#define GENMODEL_GENMODEL_H

#include "core.h"
#include "tensor.h"
#include "layer.h"
#include "net.h"
#include "loss.h"
#include "optim.h"
#include "vae.h"
#include "gan.h"
#include "penalty.h"
#include "io.h"
#include "eval.h"
#include "interp.h"

#endif /* GENMODEL_GENMODEL_H */
