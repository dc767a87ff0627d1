#!/usr/bin/env bash
# The Kafka-protocol broker the Kafka tests run against: tansu, a broker
# written in Rust that speaks the Kafka protocol to librdkafka clients.
#
#   scripts/kafka/broker.sh install   install tansu into ~/.cargo/bin when it
#                                     is not on the PATH (the build takes 12 to
#                                     16 minutes on two cores)
#   scripts/kafka/broker.sh start PORT   run a broker on 127.0.0.1:PORT with
#                                     in-memory storage, in the foreground
#
# The tests start their own broker on a free port (they need only `tansu`
# on the PATH or in ~/.cargo/bin), so CI runs `install` before `cargo test`.
set -euo pipefail

export PATH="$HOME/.cargo/bin:$PATH"

case "${1:-install}" in
install)
    if command -v tansu >/dev/null 2>&1; then
        echo "tansu: $(command -v tansu)"
    else
        echo "tansu not found: installing it (cargo install tansu --features dynostore)"
        cargo install tansu --features dynostore --locked
    fi
    ;;
start)
    port="${2:-9092}"
    exec tansu broker \
        --listener-url "tcp://127.0.0.1:${port}" \
        --advertised-listener-url "tcp://127.0.0.1:${port}" \
        --storage-engine memory://tansu/
    ;;
*)
    echo "usage: $0 install | start [PORT]" >&2
    exit 2
    ;;
esac
