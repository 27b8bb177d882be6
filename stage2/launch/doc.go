// Package launch starts one process of an app from a Spec: user and
// group ids resolved from the app's own /etc/passwd and /etc/group,
// environment, capabilities; then chroot, rlimits, capability sets,
// groups, uid/gid, no_new_privs, working directory and exec, either
// forked straight from the caller (Start) or in a freshly exec'ed helper
// (Main).
//
// It is package stage2 without the appc schema: a stage1 that parses its
// manifests itself imports only this, and so does not pay the appc
// packages' initialisation (regular expressions compiled, tables built)
// in each of its short-lived processes. Package stage2 is the same API
// over appc's types.
package launch
