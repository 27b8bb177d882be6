// Package inroot finds and changes paths below a root directory as a
// process chrooted there would see them: symlinks are followed with the
// root as "/", ".." never climbs out of it, and magic links are refused.
//
// Resolve returns a host path, which whoever uses it walks again by
// name: good enough to read what only the pod's own processes could have
// changed. Everything else returns file descriptors found by the kernel
// (openat2 RESOLVE_IN_ROOT) and creates or removes what it must relative
// to the descriptor of its parent, so a writer of a directory on the way
// (a host volume mounted into an app) cannot swap a directory for a
// symlink between a look and a use and send the walk out of the root.
//
// It is free of appc and of any package with start-up cost, so every
// binary, stage1's short-lived ones included, imports it.
package inroot
