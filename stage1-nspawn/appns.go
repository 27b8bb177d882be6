package main

import (
	"fmt"
	"path/filepath"

	"github.com/saturn-pods/saturn/stage2/launch"
)

// Each app runs in a mount namespace of its own, as under rkt's stage1:
// a copy of PID 1's, pivoted into the app's rootfs with the rest
// detached (launch.NewMountNS). An app root that escapes a chroot of its
// own (apps keep CAP_SYS_CHROOT) reaches only its own rootfs, never the
// stage1 rootfs nor another app's, and what an app mounts (with
// CAP_SYS_ADMIN) is seen by no other app. PID 1 keeps one fd per
// namespace for the pod's life: every process of the app (its event
// handlers, the app, what enter runs, the stage2 helper) joins it from
// the thread that forks it (launch.Start, launch.Exec).
//
// The namespaces are made once PID 1 has set up every rootfs and pivoted
// into the stage1 rootfs, so each copy holds the app's rootfs with all
// its mounts and nothing of the host. They are made concurrently, each on
// its own thread, while PID 1 goes on starting its supervisor: most of
// the time it takes is the kernel waiting for an RCU grace period before
// it frees the detached mounts, and waits that overlap end together.

// appNS is an app's mount namespace in the making.
type appNS struct {
	done chan struct{}
	err  error
}

// makeAppNamespaces starts making every app's mount namespace; each
// process of the app also gets a fresh session keyring. An app's
// namespace is there once waitNS returns.
func makeAppNamespaces(apps []*appPlan) {
	for _, a := range apps {
		a.ns = &appNS{done: make(chan struct{})}
		go func() {
			defer close(a.ns.done)
			fd, err := launch.NewMountNS(a.rootInPod())
			if err != nil {
				a.ns.err = err
				return
			}
			// Only these fields, which no one reads before waitNS.
			a.spec.MountNS = fd
			a.spec.Root = ""
			// Keyrings belong to the caller that started the pod:
			// each process of the app gets a session keyring of its
			// own.
			a.spec.NewSessionKeyring = true
		}()
	}
}

// waitNS waits for the app's mount namespace: a.spec may be copied, or
// its MountNS, Root and NewSessionKeyring read, only once it returned
// nil.
func (a *appPlan) waitNS() error {
	<-a.ns.done
	if a.ns.err != nil {
		return fmt.Errorf("app %s: %w", a.name, a.ns.err)
	}
	return nil
}

// rootInPod is the app's rootfs as PID 1 sees it, in the stage1 rootfs.
func (a *appPlan) rootInPod() string {
	return "/" + filepath.Join(a.rel, "rootfs")
}

// commandSpec is the spec of a command entered into app a: run as root in
// the app's mount namespace with env, a session keyring of its own, and
// the app's capability bounding set, no_new_privs and seccomp filter,
// never PID 1's full power: entering must not give more than the app has
// (rkt's enter did: CVE-2019-10144, and ran outside the app's filter:
// CVE-2019-10145).
func (a *appPlan) commandSpec(args, env []string) (*launch.Spec, error) {
	if err := a.waitNS(); err != nil {
		return nil, err
	}
	return &launch.Spec{
		MountNS: a.spec.MountNS, NewSessionKeyring: true, Dir: "/", Args: args, Env: env,
		Bounding: a.spec.Bounding, NoNewPrivs: a.spec.NoNewPrivs,
		Seccomp: a.spec.Seccomp,
		// In the app's cgroup, under its limits (rkt's ran outside:
		// CVE-2019-10147).
		Cgroup: a.spec.Cgroup,
	}, nil
}
