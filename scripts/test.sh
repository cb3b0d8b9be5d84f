#!/usr/bin/env bash
# The whole test suite: ruff, import-linter contracts, then pytest on SQLite and PostgreSQL.
# Starts a temporary PostgreSQL server unless WORKBENCH_TEST_POSTGRES_URL is already set.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
export PATH="$PWD/$venv/bin:$PATH"

"$venv/bin/ruff" check --no-cache .
"$venv/bin/lint-imports"

if [ -z "${WORKBENCH_TEST_POSTGRES_URL:-}" ]; then
  pgdir=$(mktemp -d /tmp/workbench-pg.XXXXXX)
  trap 'scripts/test-postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
  WORKBENCH_TEST_POSTGRES_URL=$(scripts/test-postgres.sh start "$pgdir")
  export WORKBENCH_TEST_POSTGRES_URL
fi
export WORKBENCH_REQUIRE_POSTGRES=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Two workers (the machine's two cores), each taking whole files so a module's app or browser
# starts once, in the order tests/conftest.py sets (files marked slow first, longest first);
# WORKBENCH_TEST_WORKERS=0 runs in one process.
# One math thread per worker (PyTorch, OpenBLAS): two workers each running two threads on two
# cores fight for them, and PyTorch then encodes ~40% slower than with one thread each.
if [ "${WORKBENCH_TEST_WORKERS:-2}" != 0 ]; then
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
fi
"$venv/bin/python" -m pytest -p no:cacheprovider -n "${WORKBENCH_TEST_WORKERS:-2}" --dist loadfile \
  --no-loadscope-reorder "$@"
