#!/usr/bin/env bash
# The README's first command: set up, build, and run the main job on an
# embedded default (one process, virtual CPU devices).
#
# Until the training examples land, the main job is the op self-check: every op of
# the library runs whole and under each of its SBP signatures on 2 and 4
# virtual CPU devices, and the assembled results must equal the whole one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "${OFL_BUILD_DIR:-build}/ofl" selfcheck --devices 2,3,4 "$@"
