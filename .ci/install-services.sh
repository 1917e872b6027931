#!/usr/bin/env bash
# Install everything the service tests need, idempotently and non-interactively:
# Python clients (avro and fastavro for the flume plugin), kcat, and the servers' artifacts
# (cached under ~/.cache/etlcore-services; pyspark goes into site-packages).
# Usage: bash .ci/install-services.sh   (then: python3 scripts/services/svc.py start ...)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive
PY="${PYTHON:-python3}"

# Run as root, or through passwordless sudo when not.
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

if ! "$PY" -c 'import confluent_kafka, boto3, happybase, cassandra, avro, fastavro, pymongo, hdfs' \
        2>/dev/null; then
    "$PY" -m pip install --quiet --disable-pip-version-check confluent-kafka boto3 \
        'happybase>=1.2' 'cassandra-driver>=3.29' avro fastavro 'pymongo>=4.6' 'hdfs>=2.7' \
        </dev/null
fi

# The dashboard plugin's browser tests drive Debian's headless Chromium with selenium
# (no browser download at run time).
if ! "$PY" -c 'import selenium' 2>/dev/null; then
    "$PY" -m pip install --quiet --disable-pip-version-check 'selenium>=4.10' </dev/null
fi

# System packages: kcat always; the toolchains only if this machine somehow lacks them.
apt_pkgs=()
command -v kcat >/dev/null || apt_pkgs+=(kcat)
command -v java >/dev/null || apt_pkgs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || apt_pkgs+=(maven)
command -v node >/dev/null || apt_pkgs+=(nodejs)
command -v npm >/dev/null || apt_pkgs+=(npm)
command -v chromium >/dev/null || apt_pkgs+=(chromium)
command -v chromedriver >/dev/null || apt_pkgs+=(chromium-driver)
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
    echo "install-services: apt-get install ${apt_pkgs[*]}"
    as_root apt-get update -qq </dev/null
    as_root apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" </dev/null
fi

# spark: `fetch` pip-installs pyspark (pinned in svcharness/spark.py, ~490 MB) only when
# `import pyspark` fails; the same package is the test driver and the cluster (Java 17).
# s3: MinIO built with `go install` at a pinned pseudo-version (~2 min cold, 150 MB binary).
# hbase: HBase 2.6.1 (hbase-server + hbase-thrift, ~111 MB of jars) through mvn into the cache.
# cassandra: cassandra-all 5.0.x and its jars from Maven Central (~67 MB, ~20 s).
# flume: flume-ng-node 1.11.0 and log4j jars from Maven Central (~42 MB); tests run the agents.
# mongodb: FerretDB is built from the Go module proxy (`go`, 1.21+, switches to the toolchain
# FerretDB's go.mod asks for by itself; Debian 12's golang-go 1.19 is too old for that).
# s3: MinIO built from the Go module proxy at a pinned pseudo-version.
# hdfs: hadoop-minicluster 3.4.1 (+3 deps it needs at run time) from Maven Central (~107 MB).
"$PY" scripts/services/svc.py fetch kafka kinesis spark hbase cassandra flume mongodb s3 hdfs \
    </dev/null
