#!/usr/bin/env bash
# Quick start: install etlcore (compiling the Cython kernels) and run the demo for 20 seconds.
# Usage: bash scripts/demo.sh [etlcore demo options, e.g. --out /tmp/demo]
# Needs Python >= 3.10 with pip, a C compiler and the Python headers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-$(command -v python3 || command -v python)}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
"$PY" -m pip install -q "setuptools>=68" wheel "cython>=3"
"$PY" -m pip install -q --no-build-isolation -e .
"$PY" -c "import etlcore._fast as f; assert f.COMPILED, 'C kernels not loaded'"
# `python -m etlcore.cli` is the `etlcore` command; it works even when pip's script dir is not on PATH.
exec "$PY" -m etlcore.cli demo --duration 20 "$@"
