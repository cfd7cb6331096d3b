# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh.
#
# OpenBLAS picks its kernels from the CPU model at load time. Virtual
# machines that report a generic model ("Intel(R) Xeon(R) Processor") make
# it fall back to its SSE3 "Prescott" kernels even when the CPU has AVX2 or
# AVX-512, which halves the speed of every matrix product (measured on the
# ring GAN: 169 vs 301 steps/s). Unless the caller chose a core type, pick
# the one the CPU's flags support.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
    gm_flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    gm_has() { case "$gm_flags" in *" $1 "*) return 0 ;; esac; return 1; }
    if gm_has avx512f && gm_has avx512bw && gm_has avx512vl; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif gm_has avx2 && gm_has fma; then
        export OPENBLAS_CORETYPE=Haswell
    fi
    unset -f gm_has
    unset gm_flags
fi
