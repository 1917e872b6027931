#!/usr/bin/env bash
# Install everything the service tests need, idempotently and non-interactively:
# Python clients, kcat, and the servers' artifacts (cached under ~/.cache/etlcore-services;
# pyspark goes into site-packages).
# Usage: bash .ci/install-services.sh   (then: python3 scripts/services/svc.py start ...)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive
PY="${PYTHON:-python3}"

# Run as root, or through passwordless sudo when not.
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

if ! "$PY" -c 'import confluent_kafka, boto3, happybase' 2>/dev/null; then
    "$PY" -m pip install --quiet --disable-pip-version-check confluent-kafka boto3 \
        'happybase>=1.2' </dev/null
fi

# System packages: kcat always; the toolchains only if this machine somehow lacks them.
apt_pkgs=()
command -v kcat >/dev/null || apt_pkgs+=(kcat)
command -v java >/dev/null || apt_pkgs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || apt_pkgs+=(maven)
command -v node >/dev/null || apt_pkgs+=(nodejs)
command -v npm >/dev/null || apt_pkgs+=(npm)
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
    echo "install-services: apt-get install ${apt_pkgs[*]}"
    as_root apt-get update -qq </dev/null
    as_root apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" </dev/null
fi

# spark: `fetch` pip-installs pyspark (pinned in svcharness/spark.py, ~490 MB) only when
# `import pyspark` fails; the same package is the test driver and the cluster (Java 17).
# s3: MinIO built with `go install` at a pinned pseudo-version (~2 min cold, 150 MB binary).
# hbase: HBase 2.6.1 (hbase-server + hbase-thrift, ~111 MB of jars) through mvn into the cache.
"$PY" scripts/services/svc.py fetch kafka kinesis spark hbase s3 </dev/null
