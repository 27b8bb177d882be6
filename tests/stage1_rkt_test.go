package tests

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// Behaviour of both stage1s that rkt users' images and scripts depend
// on (issue 11): what an app finds in its rootfs and where it starts.

// bothStage1s are the stage1 images the tests below run under.
var bothStage1s = []string{"stage1-nspawn", "stage1-fly"}

// runUnder runs saturn run with stage1 (--net=none for nspawn; fly has
// the host's network) and returns the result, the pod's UUID and what
// the app called app printed: nspawn prefixes its lines, fly passes them
// through.
func runUnder(t *testing.T, e *env, stage1, app string, args ...string) (result, string, []string) {
	t.Helper()
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	base := []string{"run", "--insecure-options=image", "--stage1-path=" + stage1Image(stage1), "--uuid-file-save=" + uuidFile}
	if stage1 == "stage1-nspawn" {
		base = append(base, "--net=none")
	}
	r := e.saturn(append(base, args...)...)
	b, _ := os.ReadFile(uuidFile)
	lines := s1Lines(r.Stdout, app)
	if stage1 == "stage1-fly" {
		lines = strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
	}
	return r, strings.TrimSpace(string(b)), lines
}

// An image's workingDirectory is where its app starts: "/" (the appc
// default, and what converted images carry) as well as a nested
// directory of the image.
func TestWorkingDirectoryFromImage(t *testing.T) {
	e := newEnv(t)
	for _, s1 := range bothStage1s {
		for _, wd := range []string{"/", "/srv/data"} {
			img := testimg.Busybox(t, testimg.Options{
				Files: map[string]string{"srv/data/here": "x"},
				Exec:  []string{"/bin/sh", "-c", "pwd; ls srv/data/here here 2>/dev/null; true"},
				Modify: func(m *schema.ImageManifest) {
					m.App.WorkingDirectory = wd
				},
			})
			r, _, lines := runUnder(t, e, s1, "busybox", img)
			want := []string{wd, "srv/data/here"}
			if wd != "/" {
				want = []string{wd, "here"}
			}
			if r.Code != 0 || !slices.Equal(lines, want) {
				t.Errorf("%s, workingDirectory %s: printed %q, want %q\n%s", s1, wd, lines, want, r)
			}
		}
	}
}

// Every app finds /etc/hostname holding the pod's hostname (the image's
// is covered), /etc/mtab a symlink to ../proc/self/mounts unless the image
// has one, and the hostname on the localhost line of /etc/hosts, whether
// stage1 writes the file (the image has none) or stage0 does
// (--hosts-entry), as rkt wrote them.
func TestEtcFilesAsRkt(t *testing.T) {
	e := newEnv(t)
	hostHostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	show := `cat /etc/hostname; readlink /etc/mtab || cat /etc/mtab; grep '^127.0.0.1' /etc/hosts; grep -c '^10.1.1.1 db$' /etc/hosts; true`
	plain := testimg.Busybox(t, testimg.Options{Exec: []string{"/bin/sh", "-c", show}})
	own := testimg.Busybox(t, testimg.Options{Exec: []string{"/bin/sh", "-c", show},
		Files: map[string]string{"etc/hostname": "from-image\n", "etc/mtab": "image's mtab\n"}})
	for _, s1 := range bothStage1s {
		for _, tc := range []struct {
			name, img, hosts string
			flags            []string
		}{
			{"image without the files", plain, "127.0.0.1 localhost localhost.localdomain localhost4 localhost4.localdomain4 %s", nil},
			{"image with its own", own, "127.0.0.1 localhost localhost.localdomain localhost4 localhost4.localdomain4 %s", nil},
			{"--hosts-entry", plain, "127.0.0.1 localhost localhost.localdomain %s", []string{"--hosts-entry=10.1.1.1=db"}},
		} {
			r, uuid, lines := runUnder(t, e, s1, "busybox", append(tc.flags, tc.img)...)
			hostname := "rkt-" + uuid
			if s1 == "stage1-fly" {
				hostname = hostHostname
			}
			mtab := "../proc/self/mounts"
			if tc.img == own {
				mtab = "image's mtab"
			}
			entry := "0"
			if tc.flags != nil {
				entry = "1"
			}
			want := []string{hostname, mtab, fmt.Sprintf(tc.hosts, hostname), entry}
			ok := r.Code == 0 && len(lines) == len(want) && lines[0] == want[0] && lines[1] == want[1] && lines[3] == want[3]
			if ok && lines[2] != want[2] {
				// stage0 may name the pod's own hostname (rkt-UUID) on
				// that line too, which on fly is not the hostname.
				f := strings.Fields(lines[2])
				ok = tc.flags != nil && slices.Contains(f, hostname) && slices.Contains(f, "localhost") && f[0] == "127.0.0.1"
			}
			if !ok {
				t.Errorf("%s, %s: printed %q, want %q\n%s", s1, tc.name, lines, want, r)
			}
		}
	}
}

// dataImage builds a busybox image whose /data holds a file and a
// subdirectory, /data being owned by 1000:1000 with mode 0750, and whose
// app runs script.
func dataImage(t *testing.T, script string, modify func(*schema.ImageManifest)) string {
	t.Helper()
	dir := testimg.Dir(t, testimg.Options{Exec: []string{"/bin/sh", "-c", script}, Modify: modify,
		Files: map[string]string{"data/a": "from the image\n", "data/sub/b": "b\n"}}, testimg.BusyboxDir)
	data := filepath.Join(dir, "rootfs/data")
	for _, p := range []string{data, filepath.Join(data, "a")} {
		if err := os.Chown(p, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(data, 0o750); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "data.aci")
	if err := testimg.BuildACI(dir, out, 0); err != nil {
		t.Fatal(err)
	}
	return out
}

// A new empty volume mounted over a directory the image has starts out
// with that directory's files, owners and mode, as rkt and Docker fill
// volumes: for a volume the pod declares and for the implicit one of an
// image mount point alike. What the app then writes lands in the volume.
func TestEmptyVolumeFilledFromImage(t *testing.T) {
	e := newEnv(t)
	script := `stat -c '%a %u %g' /data /data/a; cat /data/a /data/sub/b; echo new > /data/new`
	declared := dataImage(t, script, nil)
	implicit := dataImage(t, script, func(m *schema.ImageManifest) {
		m.App.MountPoints = []types.MountPoint{{Name: "data", Path: "/data"}}
	})
	want := []string{"750 1000 1000", "644 1000 1000", "from the image", "b"}
	for _, s1 := range bothStage1s {
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"declared volume", []string{"--volume=data,kind=empty", "--mount=volume=data,target=/data", declared}},
			{"image mount point", []string{implicit}},
		} {
			r, uuid, lines := runUnder(t, e, s1, "busybox", tc.args...)
			if r.Code != 0 || !slices.Equal(lines, want) {
				t.Errorf("%s, %s: printed %q, want %q\n%s", s1, tc.name, lines, want, r)
				continue
			}
			dirs, _ := filepath.Glob(filepath.Join(e.Dir, "pods", "*", uuid, "sharedVolumes", "data"))
			if len(dirs) != 1 {
				t.Errorf("%s, %s: no volume directory", s1, tc.name)
				continue
			}
			for _, f := range []string{"a", "sub/b", "new"} {
				if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
					t.Errorf("%s, %s: the volume lacks %s: %v", s1, tc.name, f, err)
				}
			}
		}
	}
}

// --mount target= takes a relative path, and "..", from the app's root, as
// rkt did: never outside the app's rootfs.
func TestMountRelativeTarget(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("host file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := testimg.Busybox(t, testimg.Options{Exec: []string{"/bin/sh", "-c", "cat /data/f /up/f"}})
	for _, s1 := range bothStage1s {
		r, uuid, lines := runUnder(t, e, s1, "busybox", "--volume=v,kind=host,source="+src,
			img, "--mount=volume=v,target=data", "--mount=volume=v,target=../../../up")
		if want := []string{"host file", "host file"}; r.Code != 0 || !slices.Equal(lines, want) {
			t.Errorf("%s: printed %q, want %q\n%s", s1, lines, want, r)
			continue
		}
		pod, _ := filepath.Glob(filepath.Join(e.Dir, "pods", "*", uuid))
		for _, outside := range []string{"up", "stage1/up", "stage1/rootfs/up", "stage1/rootfs/opt/up", "stage1/rootfs/opt/stage2/up"} {
			if len(pod) == 1 {
				if _, err := os.Lstat(filepath.Join(pod[0], outside)); err == nil {
					t.Errorf("%s: ../../../up made %s outside the app's rootfs", s1, outside)
				}
			}
		}
	}
}

// With --readonly-rootfs an app still gets a writable /tmp, a fresh tmpfs,
// under both stage1s, unless the image declares a mount point there:
// then /tmp is that volume.
func TestReadOnlyRootfsTmp(t *testing.T) {
	e := newEnv(t)
	script := `echo x > /tmp/f && cat /tmp/f; stat -f -c %T /tmp; touch /in-root 2>/dev/null || echo read-only root`
	plain := testimg.Busybox(t, testimg.Options{Exec: []string{"/bin/sh", "-c", script}})
	declared := testimg.Busybox(t, testimg.Options{Exec: []string{"/bin/sh", "-c", script}, Modify: func(m *schema.ImageManifest) {
		m.App.MountPoints = []types.MountPoint{{Name: "tmp", Path: "/tmp"}}
	}})
	for _, s1 := range bothStage1s {
		for _, tc := range []struct {
			name, img, fs string
		}{{"no mount point", plain, "tmpfs"}, {"mount point /tmp", declared, ""}} {
			r, _, lines := runUnder(t, e, s1, "busybox", tc.img, "--readonly-rootfs")
			if r.Code != 0 || len(lines) != 3 || lines[0] != "x" || lines[2] != "read-only root" ||
				(tc.fs != "" && lines[1] != tc.fs) || (tc.fs == "" && lines[1] == "tmpfs") {
				t.Errorf("%s, %s: printed %q; want /tmp writable (%s), the root read-only\n%s", s1, tc.name, lines, cmp.Or(tc.fs, "the volume"), r)
			}
		}
	}
}
