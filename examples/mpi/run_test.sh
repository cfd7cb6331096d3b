#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The data-parallel equivalence test (ctest: example_vae_mpi):
#
#   examples/mpi/run_test.sh VAE_MPI_BINARY [DATA_DIR]
#
# Trains the VAE for 30 steps of batch 128 twice: once in one process that
# does the 2 ranks' work itself, a replica per shard, summing the shards'
# gradients in rank order (the reference), once on 2 MPI ranks holding one
# shard each and summing gradients with MPI_Allreduce. Both run OpenBLAS on
# one thread, so the parameters must agree bit for bit (vae_mpi --compare),
# on any CPU and in any build type, and so must the ranks' replicas. Exits
# 77 (skipped) without the data set.
set -euo pipefail
bin=$1
data=${2:-/usr/share/datasets/fashion-mnist}
[ -r "$data/train-images-idx3-ubyte.gz" ] || { echo "SKIP: no $data"; exit 77; }
command -v mpirun >/dev/null || { echo "FAIL: mpirun not found (Debian: openmpi-bin)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/genmodel-mpi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# OpenMPI refuses root unless told, and containers may lack the
# cross-memory-attach its shared-memory transport prefers.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
args=(--steps 30 --batch 128 --data "$data")
echo "--- one process, 2 shards (the reference)"
"$bin" "${args[@]}" --shards 2 --params-out "$tmp/ref.bin"
echo "--- 2 ranks, one shard each"
mpirun -np 2 "$bin" "${args[@]}" --compare "$tmp/ref.bin"
