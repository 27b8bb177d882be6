#!/usr/bin/env bash
# Builds $BUILD/stage1-images/stage1-nspawn.aci: the static stage1 binary
# as /init, the rkt stage1 entrypoints (and attach) and saturn's update and
# stats linked to it, and the network helper as /net
# (stage1-nspawn/nethelper). Interface version 5: it takes the networking
# flags (docs/stage1-abi.md).
STAGE1_INTERFACE_VERSION=5 STAGE1_HELPERS="net=./stage1-nspawn/nethelper" \
	exec "$(dirname "$0")/../dist/mkstage1.sh" stage1-nspawn init host,none,default attach update stats
