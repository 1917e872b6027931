#!/usr/bin/env bash
# Set up, start the real services the tests use, and run the whole test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash .ci/install-services.sh
python scripts/services/svc.py start kafka kinesis mongodb
eval "$(python scripts/services/svc.py env --export)"
export ETLCORE_REQUIRE_COMPILED=1
python -m ruff check .
python -m pytest -q "$@"
