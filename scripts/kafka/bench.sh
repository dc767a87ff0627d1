#!/usr/bin/env bash
# Kafka ingest throughput end to end: produce N events (default 200,000;
# messages of 1 to 5 events over two partitions) to a fresh tansu broker,
# start a release `vigilo serve` consuming them, and time until every event
# is stored, then until detection evaluated them all.
#
#   scripts/kafka/bench.sh [N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
scripts/kafka/broker.sh install >/dev/null
KAFKA_BENCH_EVENTS="${1:-200000}" cargo test --release -p vigilo --test kafka_crash \
    -- --ignored --nocapture kafka_ingest_throughput 2>&1 | grep -E "produced|kafka ingest|test result"
