#!/usr/bin/env bash
# Install etlcore (compiling the Cython kernels) and every plugin in plugins/, for development.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
python -m pip install -q "setuptools>=68" wheel "cython>=3"
python -m pip install -q --no-build-isolation -e ".[test,sql,ui,ml,files]"
for plugin in plugins/*/; do
    if [ -f "$plugin/pyproject.toml" ]; then
        python -m pip install -q --no-build-isolation -e "$plugin"
    fi
done
python -c "import etlcore._fast as f; assert f.COMPILED, 'C kernels not loaded'; print('etlcore', __import__('etlcore').__version__, 'with compiled kernels')"
