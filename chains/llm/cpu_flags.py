"""The CMake flags that compile llama.cpp for this CPU's vector units.

The flags are named rather than `-DGGML_NATIVE=ON`: the portable base (AVX2, FMA, F16C),
plus each AVX-512 extension ggml has kernels for that `/proc/cpuinfo` lists. `tuned` never
switches AMX on: llama.cpp's AMX kernels as llama-cpp-python 0.3.36 vendors them die on their
first tile instruction (a native build did, on a machine with AMX). On a CPU with AMX,
`amx` names a third build, the tuned flags plus AMX, which `make install` compiles from the
sdist with `deploy/patches/llama-cpp-amx-tile-config.patch` applied; the server probes it in
a child process like the others (`chains.llm.llama_build`). `make install` runs this file
with the system Python before the virtual environment exists, so it imports nothing but
the standard library.
"""

from __future__ import annotations

import sys
from pathlib import Path

PORTABLE = ("-DGGML_NATIVE=OFF",)
# ggml's GGML_AVX512 compiles with -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw.
_AVX512_BASE = {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"}
_EXTENSIONS = (
    ("avx512vbmi", "-DGGML_AVX512_VBMI=ON"),
    ("avx512_vnni", "-DGGML_AVX512_VNNI=ON"),
    ("avx512_bf16", "-DGGML_AVX512_BF16=ON"),
    ("avx_vnni", "-DGGML_AVX_VNNI=ON"),
)
_PORTABLE_BASE = {"avx2", "fma", "f16c"}
# ggml's AMX kernels need AMX-INT8 and AVX512-VNNI (`ggml-cpu/amx/common.h`).
_AMX_BASE = {"amx_tile", "amx_int8", "avx512_vnni"}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The `flags` line of the first CPU, as a set; empty where there is none (not Linux)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def tuned_cmake_args(flags: frozenset[str]) -> tuple[str, ...]:
    """The portable flags plus this CPU's AVX-512 family; the portable ones alone without it.

    The AMX flags are never named: with GGML_NATIVE off they stay off.
    """
    if not (flags >= _PORTABLE_BASE and flags >= _AVX512_BASE):
        return PORTABLE
    extra = [arg for flag, arg in _EXTENSIONS if flag in flags]
    return (
        *PORTABLE,
        "-DGGML_AVX=ON",
        "-DGGML_AVX2=ON",
        "-DGGML_FMA=ON",
        "-DGGML_F16C=ON",
        "-DGGML_AVX512=ON",
        *extra,
    )


def amx_cmake_args(flags: frozenset[str]) -> tuple[str, ...]:
    """The tuned flags plus AMX on a CPU with AMX-INT8; nothing (no AMX build) without it."""
    tuned = tuned_cmake_args(flags)
    if tuned == PORTABLE or not flags >= _AMX_BASE:
        return ()
    bf16 = ("-DGGML_AMX_BF16=ON",) if "amx_bf16" in flags else ()
    return (*tuned, "-DGGML_AMX_TILE=ON", "-DGGML_AMX_INT8=ON", *bf16)


if __name__ == "__main__":
    wanted = sys.argv[1] if len(sys.argv) > 1 else "tuned"
    build = {"portable": lambda flags: PORTABLE, "amx": amx_cmake_args}.get(
        wanted, tuned_cmake_args
    )
    print(" ".join(build(cpu_flags())))
