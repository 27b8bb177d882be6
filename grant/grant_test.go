package grant

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage2/launch"
)

// TestDefaultCapsPinned pins the default capability set: what an image
// may retain without the operator is exactly this list, so widening it
// must be a change to this test too.
func TestDefaultCapsPinned(t *testing.T) {
	want := []launch.Cap{
		unix.CAP_AUDIT_WRITE, unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE,
		unix.CAP_FSETID, unix.CAP_FOWNER, unix.CAP_KILL, unix.CAP_MKNOD,
		unix.CAP_NET_RAW, unix.CAP_NET_BIND_SERVICE, unix.CAP_SETUID,
		unix.CAP_SETGID, unix.CAP_SETPCAP, unix.CAP_SETFCAP, unix.CAP_SYS_CHROOT,
	}
	if !slices.Equal(launch.DefaultCaps, want) {
		t.Fatalf("launch.DefaultCaps = %v, want %v", launch.DefaultCaps, want)
	}
}

func isolator(t *testing.T, name, value string) types.Isolator {
	t.Helper()
	var iso types.Isolator
	if err := iso.UnmarshalJSON([]byte(`{"name":"` + name + `","value":` + value + `}`)); err != nil {
		t.Fatalf("isolator %s: %v", name, err)
	}
	return iso
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		why         string // "" when the isolator does not widen
		flag        string
	}{
		{types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_SYS_ADMIN"]}`, "retains CAP_SYS_ADMIN beyond", "--caps-retain"},
		{types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_KILL","CAP_NET_ADMIN","CAP_SYS_MODULE"]}`, "retains CAP_NET_ADMIN,CAP_SYS_MODULE beyond", "--caps-retain"},
		{types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_NO_SUCH"]}`, "retains CAP_NO_SUCH beyond", "--caps-retain"},
		{types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_KILL","CAP_CHOWN","CAP_SYS_CHROOT"]}`, "", ""},
		{types.LinuxCapabilitiesRevokeSetName, `{"set":["CAP_KILL"]}`, "", ""},
		{types.LinuxNoNewPrivilegesName, `false`, "", ""},
		{types.LinuxNoNewPrivilegesName, `true`, "", ""},
		{types.LinuxOOMScoreAdjName, `-1`, "lowers the app's OOM score by 1", "--oom-score-adjust"},
		{types.LinuxOOMScoreAdjName, `0`, "", ""},
		{types.LinuxOOMScoreAdjName, `1000`, "", ""},
		{types.LinuxCPUSharesName, `1025`, "raises the app's CPU weight to 1025", "--cpu-shares"},
		{types.LinuxCPUSharesName, `1024`, "", ""},
		{types.LinuxCPUSharesName, `2`, "", ""},
		{types.ResourceMemoryName, `{"limit":"1G"}`, "", ""},
		{types.ResourceCPUName, `{"limit":"500m"}`, "", ""},
		{types.LinuxSELinuxContextName, `{"user":"u","role":"r","type":"unconfined_t","level":"s0"}`, "SELinux context", "--pod-manifest"},
		{types.UnixSysctlName, `{"kernel.core_pattern":"|/x"}`, "kernel parameters", "--pod-manifest"},
		{types.LinuxSeccompRetainSetName, `{"set":["read","write","socket"]}`, "", ""},
		{types.LinuxSeccompRetainSetName, `{"set":["@docker/default-whitelist"],"errno":"EPERM"}`, "", ""},
		{types.LinuxSeccompRetainSetName, `{"set":["read","keyctl","mount"]}`, "allows keyctl,mount beyond saturn's default seccomp filter", "--seccomp"},
		{types.LinuxSeccompRetainSetName, `{"set":["@appc.io/all"]}`, "turns the seccomp filter off", "--seccomp"},
		// Left to the app check, which names the unknown call.
		{types.LinuxSeccompRetainSetName, `{"set":["nosuchcall"]}`, "", ""},
		{types.LinuxSeccompRemoveSetName, `{"set":["socket"]}`, "", ""},
		{"os/linux/privileged", `true`, "cannot judge", "--pod-manifest"},
		{"example.com/hint", `{}`, "cannot judge", "--pod-manifest"},
	} {
		ws := Check(types.Isolators{isolator(t, tc.name, tc.value)})
		if tc.why == "" {
			if len(ws) != 0 {
				t.Errorf("%s %s: judged widening: %+v", tc.name, tc.value, ws)
			}
			continue
		}
		if len(ws) != 1 || !strings.Contains(ws[0].Why, tc.why) || ws[0].Flag != tc.flag || ws[0].Isolator != types.ACIdentifier(tc.name) {
			t.Errorf("%s %s: got %+v, want one widening %q with flag %s", tc.name, tc.value, ws, tc.why, tc.flag)
		}
	}
}

func TestPolicy(t *testing.T) {
	sysAdmin := types.Isolators{isolator(t, types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_SYS_ADMIN"]}`)}
	oom := types.Isolators{isolator(t, types.LinuxOOMScoreAdjName, `-5`)}
	trusted := func(id string) error {
		if id == "sha512-good" {
			return nil
		}
		return errors.New("signed by a key no longer trusted")
	}
	insecureCaps := func(o string) bool { return o == "capabilities" }
	for _, tc := range []struct {
		desc string
		p    *Policy
		id   string
		isos types.Isolators
		want string // "" for allowed
	}{
		{"nil policy refuses", nil, "sha512-good", sysAdmin, "give --caps-retain, or --trust-image-isolators"},
		{"zero policy refuses", &Policy{}, "sha512-good", sysAdmin, "give --caps-retain"},
		{"narrowing passes", nil, "sha512-good", types.Isolators{isolator(t, types.LinuxOOMScoreAdjName, `5`)}, ""},
		{"trust flag, trusted image", &Policy{TrustSigned: true, Trusted: trusted}, "sha512-good", sysAdmin, ""},
		{"trust flag, untrusted image", &Policy{TrustSigned: true, Trusted: trusted}, "sha512-bad", sysAdmin, "needs a trusted signature: signed by a key no longer trusted"},
		{"trusted image, no flag", &Policy{Trusted: trusted}, "sha512-good", sysAdmin, "give --caps-retain"},
		{"insecure capabilities", &Policy{Insecure: insecureCaps}, "sha512-bad", sysAdmin, ""},
		{"insecure capabilities, oom", &Policy{Insecure: insecureCaps}, "sha512-bad", oom, "--oom-score-adjust"},
	} {
		err := tc.p.Image("example.com/app", tc.id, tc.isos)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.desc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error with %q", tc.desc, err, tc.want)
		case err != nil:
			var ge *Error
			if !errors.As(err, &ge) || !strings.HasPrefix(err.Error(), "image example.com/app: isolator ") {
				t.Errorf("%s: error %q does not start by naming the image and the isolator", tc.desc, err)
			}
		}
	}
}
