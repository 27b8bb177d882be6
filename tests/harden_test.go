package tests

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// TestHardenKernelPaths: an app root cannot write the host kernel's knobs
// (/proc/sysrq-trigger, /proc/sys) nor read its memory, symbols and
// hardware through /proc and /sys, the paths rkt's stage1 restricted;
// --insecure-options=paths lifts it. What a kernel lacks (this machine
// has no /proc/sysrq-trigger; the v2 VM's kernel has) is expected
// missing in the pod too. The probe writes only harmless values: sysrq's
// 'h' (help, to the kernel log) and each knob's own value.
func TestHardenKernelPaths(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	dir := func(p string) string {
		ents, err := os.ReadDir(p)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return strings.Join(names, ",")
	}
	kallsyms, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		before     []string
		restricted bool
	}{{"default", nil, true}, {"insecure paths", []string{"--insecure-options=image,paths"}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			out := runProbe(t, e, ta, tc.before, nil, "kernel-paths")
			var want []string
			write := func(p string) {
				switch {
				case !exists(p):
					want = append(want, "write "+p+": ENOENT")
				case tc.restricted:
					want = append(want, "write "+p+": EROFS")
				default:
					want = append(want, "write "+p+": OK")
				}
			}
			write("/proc/sysrq-trigger")
			write("/proc/sys/kernel/core_pattern")
			if tc.restricted {
				want = append(want, "read /proc/kallsyms: 0 bytes", "read /proc/config.gz: "+map[bool]string{true: "0 bytes", false: "ENOENT"}[exists("/proc/config.gz")], "ls /sys/firmware: ", "ls /sys/fs: cgroup", "ls /sys/module: ")
			} else {
				// Symbols come and go with modules: the size is the
				// host's, give or take.
				want = append(want, "ls /sys/firmware: "+dir("/sys/firmware"), "ls /sys/fs: "+dir("/sys/fs"))
				got := ""
				for _, l := range appLines(out, "testapp") {
					if rest, ok := strings.CutPrefix(l, "read /proc/kallsyms: "); ok {
						got = strings.TrimSuffix(rest, " bytes")
					}
				}
				if n, _ := strconv.Atoi(got); n < len(kallsyms)/2 {
					t.Errorf("/proc/kallsyms read %q bytes in the pod, the host's has %d", got, len(kallsyms))
				}
			}
			wantLines(t, tc.name, out, want...)
		})
	}
}
