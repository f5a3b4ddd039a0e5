#!/usr/bin/env bash
# Mutation testing of the pure domain code (src/domain/) with cargo-mutants,
# driven by the unit tests alone (`cargo test --lib`: no PostgreSQL or Redis).
# Settings are in .cargo/mutants.toml; README lists the last figures and
# the equivalent mutants. Installs cargo-mutants from crates.io on first use.
#
# Each mutant costs one incremental rebuild (~10 s on two cores) and the unit
# tests (~2 s); all of src/domain/ is about 840 mutants, some three hours.
# Name files to narrow it:
#   scripts/mutants.sh src/domain/folding.rs src/domain/schedule.rs
# Extra cargo-mutants options may follow the files (`-- --iterate`).
# The report goes to target/mutants-report/mutants.out/ (missed.txt lists
# the mutants no test caught); the script fails when any was missed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo mutants --version >/dev/null 2>&1; then
  cargo install cargo-mutants --locked
fi
files=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  files+=(--file "$1")
  shift
done
[ "${1:-}" = "--" ] && shift
if [ ${#files[@]} -eq 0 ]; then
  files=(--file 'src/domain/**/*.rs')
fi
# A target directory of its own, kept between runs: the copies of the tree
# cargo-mutants builds in then reuse the compiled dependencies.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/mutants-build}"
cargo mutants "${files[@]}" --output target/mutants-report "$@"
