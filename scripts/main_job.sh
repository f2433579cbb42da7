#!/usr/bin/env bash
# The README's first command: set up, build, and run the main job on an
# embedded default (one process, virtual CPU devices): fashion_mlp trains an
# MLP 784-256-128-10 on Fashion-MNIST (Debian's dataset-fashion-mnist) with
# Adam, data parallel on 4 virtual CPU devices, for 10 epochs, with a
# progress bar, then prints its test accuracy (0.892 here) per class.
# Extra arguments go to fashion_mlp (e.g. --epochs 2 --layout tensor).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "${OFL_BUILD_DIR:-build}/examples/fashion_mlp" "$@"
