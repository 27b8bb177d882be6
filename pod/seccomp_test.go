package pod

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
)

const removeSocketApp = `,"app":{"exec":["/bin/sh"],"user":"0","group":"0",
	"isolators":[{"name":"os/linux/seccomp-remove-set","value":{"set":["@rkt/default-blacklist","socket"],"errno":"ENOTSUP"}}]}`

// seccompSet returns the app's seccomp isolator, its name and set.
func seccompSet(t *testing.T, a *types.App) (types.ACIdentifier, types.LinuxSeccompSet) {
	t.Helper()
	for _, iso := range a.Isolators {
		if v, ok := iso.Value().(types.LinuxSeccompSet); ok {
			return iso.Name, v
		}
	}
	t.Fatalf("no seccomp isolator in %+v", a.Isolators)
	return "", nil
}

func names(v types.LinuxSeccompSet) []string {
	var out []string
	for _, e := range v.Set() {
		out = append(out, string(e))
	}
	return out
}

// An image's remove set narrows the default filter: it reaches the pod
// as a retain set of the default less what it removes. The operator's
// remove set reaches it as written.
func TestImageRemoveSetNarrowsDefault(t *testing.T) {
	imgs := fakeImages{fakeID(1): imageManifest(t, "example.com/narrow", removeSocketApp)}
	o, _, err := parse([]string{"narrow"})
	if err != nil {
		t.Fatal(err)
	}
	o.Apps.Apps[0].ImageID = fakeID(1)
	pm, err := Generate(o, imgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	name, set := seccompSet(t, pm.Apps[0].App)
	got := names(set)
	if name != types.LinuxSeccompRetainSetName || set.Errno() != "ENOTSUP" || slices.Contains(got, "socket") ||
		slices.Contains(got, "mount") || !slices.Contains(got, "read") || slices.Contains(got, "io_uring_setup") {
		t.Errorf("image remove set became %s errno %q %q", name, set.Errno(), got)
	}

	o, _, err = parse([]string{"narrow", "--seccomp=mode=remove,errno=EACCES,socket"})
	if err != nil {
		t.Fatal(err)
	}
	o.Apps.Apps[0].ImageID = fakeID(1)
	if pm, err = Generate(o, imgs, nil); err != nil {
		t.Fatal(err)
	}
	if name, set = seccompSet(t, pm.Apps[0].App); name != types.LinuxSeccompRemoveSetName || !slices.Equal(names(set), []string{"socket"}) {
		t.Errorf("operator's remove set became %s %q", name, names(set))
	}

	// A --pod-manifest app without an app section takes its image's,
	// narrowed the same way.
	path := writePodManifest(t, fmt.Sprintf(`{"name":"one","image":{"id":%q}}`, fakeID(1)))
	if pm, err = LoadManifest(path, imgs, nil); err != nil {
		t.Fatal(err)
	}
	if name, _ = seccompSet(t, pm.Apps[0].App); name != types.LinuxSeccompRetainSetName {
		t.Errorf("pod manifest app without app section: image remove set stays a %s", name)
	}
}

func TestCheckSeccomp(t *testing.T) {
	for _, tc := range []struct{ isolators, want string }{
		{`{"name":"os/linux/seccomp-retain-set","value":{"set":["read","nosuchcall"]}}`, `unknown system call "nosuchcall"`},
		{`{"name":"os/linux/seccomp-remove-set","value":{"set":["@systemd/nosuch"]}}`, `unknown seccomp group "@systemd/nosuch"`},
		{`{"name":"os/linux/seccomp-remove-set","value":{"set":["socket"],"errno":"ENOPE"}}`, `unknown errno "ENOPE"`},
		{`{"name":"os/linux/seccomp-remove-set","value":{"set":["socket","@appc.io/empty"],"errno":"EPERM"}}`, ""},
	} {
		m := imageManifest(t, "example.com/x", `,"app":{"exec":["/bin/sh"],"user":"0","group":"0","isolators":[`+tc.isolators+`]}`)
		err := checkSeccomp(m.App)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: error %v, want %q", tc.isolators, err, tc.want)
		}
	}
}
