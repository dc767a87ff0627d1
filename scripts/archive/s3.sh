#!/usr/bin/env bash
# The S3-compatible server the archive tests run against: s3s-fs, an S3
# server over a local directory, written in Rust.
#
#   scripts/archive/s3.sh   install s3s-fs into ~/.cargo/bin when it is not
#                           on the PATH (about 7 minutes on two cores)
#
# The tests start their own s3s-fs on a free port with a temporary root
# (they need only `s3s-fs` on the PATH, in ~/.cargo/bin, or named by
# $S3S_FS), so CI runs this before `cargo test`.
set -euo pipefail

export PATH="$HOME/.cargo/bin:$PATH"

# 0.14 is the newest release that builds with the toolchain this project
# pins (rust-version 1.95).
S3S_FS_VERSION="${S3S_FS_VERSION:-0.14.1}"

if command -v s3s-fs >/dev/null 2>&1; then
    echo "s3s-fs: $(command -v s3s-fs)"
else
    echo "s3s-fs not found: installing it (cargo install s3s-fs --features binary)"
    cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked
fi
