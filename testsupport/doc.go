// Package testsupport holds what the tests of several packages share:
// filling structs by reflection, a locked output buffer, the pod-log line
// filter, busybox rootfs and tar builders. Only tests import it.
package testsupport
