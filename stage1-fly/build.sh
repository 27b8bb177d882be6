#!/usr/bin/env bash
# Builds $BUILD/stage1-images/stage1-fly.aci: the static stage1-fly binary
# as /run, the rkt stage1 entrypoints linked to it.
# The annotations tell stage0 what fly cannot honour (docs/stage1-abi.md),
# so such pods are refused before they exist.
exec "$(dirname "$0")/../dist/mkstage1.sh" stage1-fly run host,default \
	max-apps=1 unsupported-flags=hostname,ipc=private \
	isolators=os/linux/capabilities-retain-set,os/linux/capabilities-remove-set,os/linux/no-new-privileges,os/linux/oom-score-adj
