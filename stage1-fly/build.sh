#!/usr/bin/env bash
# Builds $BUILD/stage1-images/stage1-fly.aci: the static stage1-fly binary
# as /run, the rkt stage1 entrypoints linked to it.
exec "$(dirname "$0")/../dist/mkstage1.sh" stage1-fly run host,default
