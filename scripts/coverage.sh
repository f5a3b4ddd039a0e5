#!/usr/bin/env bash
# Line coverage of src/ (outside src/bin) under the whole Rust test suite,
# with tarpaulin's LLVM engine; fails below 90 %. Needs PostgreSQL and Redis
# on their default ports, as `cargo test` does. Installs tarpaulin from
# crates.io on first use. The report goes to target/coverage/. The timeout
# covers the whole integration-test binary (minutes under instrumentation).
# Extra arguments go to tarpaulin (`--fail-under 0` to only report).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo tarpaulin --version >/dev/null 2>&1; then
  cargo install cargo-tarpaulin --locked
fi
cargo tarpaulin --engine llvm --skip-clean \
  --exclude-files 'src/bin/*' \
  --target-dir target/coverage-build \
  --out Json --out Html --output-dir target/coverage \
  --timeout 1800 --fail-under 90 "$@"
