package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
	"github.com/saturn-pods/saturn/trust/gpgtest"
)

// An image's manifest may only narrow what its app gets: isolators that
// widen it come from the operator (grant package, stage0/grant.go).

// attackerCaps is the retain set of an attacker's image: the default set
// (stage2/launch.DefaultCaps) plus CAP_SYS_ADMIN.
var attackerCaps = []string{"CAP_SYS_ADMIN", "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID",
	"CAP_FOWNER", "CAP_KILL", "CAP_MKNOD", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID",
	"CAP_SETPCAP", "CAP_SETFCAP", "CAP_SYS_CHROOT"}

// withIsolator returns a Modify that adds the isolator name=value (JSON)
// to the image's app.
func withIsolator(t *testing.T, name, value string) func(m *schema.ImageManifest) {
	t.Helper()
	var iso types.Isolator
	if err := iso.UnmarshalJSON([]byte(`{"name":"` + name + `","value":` + value + `}`)); err != nil {
		t.Fatalf("isolator %s: %v", name, err)
	}
	return func(m *schema.ImageManifest) { m.App.Isolators = append(m.App.Isolators, iso) }
}

func retainSet(caps []string) string {
	return `{"set":["` + strings.Join(caps, `","`) + `"]}`
}

// escapeImage is a test-app image named name whose app runs the
// caps-escape probe step and whose manifest retains caps.
func escapeImage(t *testing.T, name, step string, caps []string) string {
	t.Helper()
	return testimg.TestApp(t, testimg.Options{Name: name, Exec: []string{"/testapp", "caps-escape", step},
		Modify: withIsolator(t, types.LinuxCapabilitiesRetainSetName, retainSet(caps))})
}

// probeSays returns what the probe of any app printed for step
// ("cgroup-mount" gives "ok (pids)").
func probeSays(r result, step string) string {
	for _, l := range strings.Split(r.Stdout+r.Stderr, "\n") {
		if _, said, ok := strings.Cut(l, "]: "+step+": "); ok {
			return said
		}
	}
	return ""
}

// wantRefusedBeforePod checks that r is one line of error naming each of
// want and that e holds no pod.
func wantRefusedBeforePod(t *testing.T, e *env, r result, want ...string) {
	t.Helper()
	if r.Code != 254 {
		t.Fatalf("exit %d, want 254 (refused)\n%s", r.Code, r)
	}
	for _, w := range want {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("error does not name %q:\n%s", w, r.Stderr)
		}
	}
	errs := 0
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(l, "saturn ") {
			errs++
		}
	}
	if errs != 1 {
		t.Errorf("want one line of error, got %d:\n%s", errs, r.Stderr)
	}
	if pods := podDirs(t, e); len(pods) != 0 {
		t.Errorf("a refused pod left %v", pods)
	}
}

// The attack: an image retains CAP_SYS_ADMIN, mounts a cgroup v1
// hierarchy to point release_agent at its own script, or a fresh proc to
// write core_pattern; both run a program as host root. The pod must be
// refused before it exists, so the probe never runs.
func TestImageCannotGrantItselfCapabilities(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ step, knob string }{{"cgroup", "release_agent"}, {"proc", "core_pattern"}} {
		t.Run(tc.knob, func(t *testing.T) {
			img := escapeImage(t, "example.com/widen-"+tc.step, tc.step, attackerCaps)
			r, _ := podRun(t, e.withT(t), img)
			if got := probeSays(r, tc.step+"-mount"); got != "" {
				t.Errorf("the image granted itself CAP_SYS_ADMIN: its probe ran, %s-mount: %s, %s: %s",
					tc.step, got, tc.knob, probeSays(r, tc.knob))
			}
			wantRefusedBeforePod(t, e, r, "image example.com/widen-"+tc.step, "os/linux/capabilities-retain-set",
				"CAP_SYS_ADMIN", "--caps-retain", "--trust-image-isolators")
		})
	}
}

// Other isolators an image must not set itself, each refused before the
// pod is made, naming the operator's way to set it.
func TestImageCannotWidenOtherIsolators(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, value, flag string }{
		{types.LinuxOOMScoreAdjName, `-900`, "--oom-score-adjust"},
		{types.LinuxCPUSharesName, `262144`, "--cpu-shares"},
		{"os/unix/sysctl", `{"kernel.core_pattern":"|/x"}`, "--pod-manifest"},
		{types.LinuxSELinuxContextName, `{"user":"system_u","role":"system_r","type":"unconfined_t","level":"s0"}`, "--pod-manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testimg.TestApp(t, testimg.Options{Name: "example.com/widen", Modify: withIsolator(t, tc.name, tc.value)})
			r := e.withT(t).saturn("prepare", "--insecure-options=image", img)
			wantRefusedBeforePod(t, e, r, "image example.com/widen", tc.name, tc.flag)
		})
	}
}

// Narrowing isolators from images keep working: a retain set within the
// default set, a remove set, limits; the probe shows the capability gone.
func TestImageNarrowingIsolatorsKept(t *testing.T) {
	e := newEnv(t)
	img := testimg.TestApp(t, testimg.Options{Name: "example.com/narrow", Exec: []string{"/testapp", "caps-escape", "cgroup"},
		Modify: func(m *schema.ImageManifest) {
			for _, iso := range []func(*schema.ImageManifest){
				withIsolator(t, types.LinuxCapabilitiesRetainSetName, retainSet([]string{"CAP_KILL", "CAP_CHOWN"})),
				withIsolator(t, types.LinuxCapabilitiesRevokeSetName, `{"set":["CAP_CHOWN"]}`),
				withIsolator(t, types.LinuxOOMScoreAdjName, `500`),
				withIsolator(t, types.LinuxCPUSharesName, `512`),
				withIsolator(t, types.LinuxNoNewPrivilegesName, `true`),
				withIsolator(t, types.ResourceMemoryName, `{"limit":"1G"}`),
			} {
				iso(m)
			}
		}})
	r, _ := podRun(t, e, img)
	if r.Code != 0 {
		t.Fatalf("an image narrowing its confinement was refused: %s", r)
	}
	if got := probeSays(r, "cgroup-mount"); got != "operation not permitted" {
		t.Errorf("cgroup-mount: %q, want operation not permitted\n%s", got, r)
	}
}

// The operator's --caps-retain grants what the image could not: the same
// probe mounts a cgroup hierarchy and a proc, and could write proc's
// knobs. release_agent stays out of reach all the same: the app's cgroup
// namespace shows it its own cgroup only, which has none
// (TestCgroupReleaseAgentOutOfReach).
func TestOperatorCapsRetainGrants(t *testing.T) {
	e := newEnv(t)
	caps := "--caps-retain=" + strings.Join(attackerCaps, ",")
	for _, tc := range []struct{ step, knob, want string }{
		{"cgroup", "release_agent", "no such file or directory"},
		{"proc", "core_pattern", "writable"},
	} {
		img := escapeImage(t, "example.com/widen-"+tc.step, tc.step, attackerCaps)
		r, _ := podRun(t, e, img, caps)
		if r.Code != 0 || !strings.HasPrefix(probeSays(r, tc.step+"-mount"), "ok") || probeSays(r, tc.knob) != tc.want {
			t.Errorf("%s: with the operator's %s the probe should mount, and %s be %s:\n%s", tc.step, caps, tc.knob, tc.want, r)
		}
	}
}

// A trusted signed image with --trust-image-isolators keeps its retain
// set; without the flag, or unsigned with it, it is refused.
func TestTrustedSignedImageIsolators(t *testing.T) {
	e := newEnv(t)
	g := gpgtest.New(t)
	fpr := g.GenKey("Publisher <publisher@example.com>", "never")
	const name = "example.com/signed-widen"
	signedACI, _ := signedTestApp(t, g, fpr, testimg.Options{Name: name, Exec: []string{"/testapp", "caps-escape", "cgroup"},
		Modify: withIsolator(t, types.LinuxCapabilitiesRetainSetName, retainSet(attackerCaps))})
	trustKey(t, e, g, fpr, "example.com/signed-widen")

	r := e.saturn("run", "--net=none", signedACI)
	wantRefusedBeforePod(t, e, r, "image "+name, "--trust-image-isolators")

	r = e.saturn("run", "--net=none", "--trust-image-isolators", signedACI)
	if r.Code != 0 || !strings.HasPrefix(probeSays(r, "cgroup-mount"), "ok") {
		t.Fatalf("a trusted signed image with --trust-image-isolators should keep CAP_SYS_ADMIN:\n%s", r)
	}
	e.mustSaturn("gc", "--grace-period=0s")

	// The same image fetched without its signature, or once its key is
	// no longer trusted, gets nothing from the flag.
	other := newEnv(t)
	r = other.saturn("run", "--insecure-options=image", "--net=none", "--trust-image-isolators", signedACI)
	wantRefusedBeforePod(t, other, r, "image "+name, "without a signature")

	if err := os.RemoveAll(filepath.Join(e.LocalConfig, "trustedkeys")); err != nil {
		t.Fatal(err)
	}
	r = e.saturn("run", "--net=none", "--pull-policy=never", "--trust-image-isolators", name)
	wantRefusedBeforePod(t, e, r, "image "+name, "--trust-image-isolators needs a trusted signature")
}
