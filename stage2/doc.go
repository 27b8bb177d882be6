// Package stage2 starts one app of a pod: it turns the app's image and
// pod manifest entries into a Spec (user and group ids resolved from the
// app's own /etc/passwd and /etc/group, environment, capabilities) and,
// in a freshly exec'ed helper process, applies the Spec (chroot, rlimits,
// capability sets, groups, uid/gid, no_new_privs, working directory) and
// execs the app. Every stage1 uses it, so apps start the same way whatever
// isolates them.
//
// The work itself is done by package stage2/launch, which does not import
// the appc schema; this package is that API over appc's types.
package stage2
