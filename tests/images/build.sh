#!/usr/bin/env bash
# Builds the example images (build/images/*.aci) from busybox-static and the
# static test app; called by build.sh with BUILD set.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p "$BUILD/images"
go run ./tests/images "$BUILD/images"
