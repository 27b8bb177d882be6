package pod

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/stage1abi"
)

// fakeImages is an in-memory image store for manifest tests.
type fakeImages map[string]*schema.ImageManifest

func (f fakeImages) Manifest(id string) (*schema.ImageManifest, error) {
	m, ok := f[id]
	if !ok {
		return nil, fmt.Errorf("image %s not found", id)
	}
	return m, nil
}

func fakeID(n int) string { return fmt.Sprintf("sha512-%0128x", n) }

func imageManifest(t *testing.T, name string, app string) *schema.ImageManifest {
	t.Helper()
	js := fmt.Sprintf(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":%q,
		"labels":[{"name":"version","value":"1.0"}]%s}`, name, app)
	var m schema.ImageManifest
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

const busyApp = `,"app":{"exec":["/bin/sh"],"user":"0","group":"0",
	"environment":[{"name":"IMG","value":"image"},{"name":"PATH","value":"/bin"}],
	"mountPoints":[{"name":"data","path":"/data"}],
	"ports":[{"name":"http","protocol":"tcp","port":80}],
	"isolators":[{"name":"resource/memory","value":{"limit":"1G"}}]}`

func generate(t *testing.T, args []string, environ []string) (*schema.PodManifest, error) {
	t.Helper()
	o, _, err := parse(args)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	imgs := fakeImages{
		fakeID(1): imageManifest(t, "example.com/busybox", busyApp),
		fakeID(2): imageManifest(t, "example.com/tools/worker_x", busyApp),
		fakeID(3): imageManifest(t, "example.com/layer", ""),
	}
	ids := map[string]string{"busybox": fakeID(1), "worker": fakeID(2), "layer": fakeID(3)}
	for _, a := range o.Apps.Apps {
		a.ImageID = ids[a.Image]
	}
	return Generate(o, imgs, environ)
}

func TestGenerate(t *testing.T) {
	pm, err := generate(t, []string{
		"--volume=data,kind=empty", "--set-env=SET=all", "--set-env=IMG=overridden", "--inherit-env",
		"--port=http:8080", "--user-label=team=a",
		"busybox", "--exec=/bin/echo", "--user=tester", "--environment=SET=mine", "--memory=64M",
		"--stdin=tty", "--user-annotation=k=v", "--", "hi", "---",
		"worker", "--caps-retain=CAP_KILL", "--mount=volume=data,target=/w",
	}, []string{"HOSTVAR=h", "IMG=host"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pm.Apps) != 2 {
		t.Fatalf("apps = %d", len(pm.Apps))
	}
	a, w := pm.Apps[0], pm.Apps[1]
	if a.Name != "busybox" || w.Name != "worker-x" {
		t.Errorf("names = %s, %s (default from the last element of the image name)", a.Name, w.Name)
	}
	if got := strings.Join(a.App.Exec, " "); got != "/bin/echo hi" {
		t.Errorf("exec = %q", got)
	}
	if a.App.User != "tester" || a.App.Group != "0" {
		t.Errorf("user/group = %s/%s", a.App.User, a.App.Group)
	}
	env := map[string]string{"SET": "mine", "IMG": "overridden", "HOSTVAR": "h", "PATH": "/bin"}
	for k, v := range env {
		if got, _ := a.App.Environment.Get(k); got != v {
			t.Errorf("env %s = %q, want %q", k, got, v)
		}
	}
	if got, _ := w.App.Environment.Get("SET"); got != "all" {
		t.Errorf("worker SET = %q, want all", got)
	}
	var mems int
	for _, is := range a.App.Isolators {
		if is.Name == types.ResourceMemoryName {
			mems++
			if r := is.Value().(*types.ResourceMemory); r.Limit().Value() != 64*1000*1000 {
				t.Errorf("memory limit = %v, want the --memory override", r.Limit())
			}
		}
	}
	if mems != 1 {
		t.Errorf("%d memory isolators, want the image's replaced by one", mems)
	}
	if v, _ := a.Annotations.Get(stage1abi.AnnStdin); v != "tty" {
		t.Errorf("stdin annotation = %q", v)
	}
	if a.App.UserAnnotations["k"] != "v" || pm.UserLabels["team"] != "a" {
		t.Errorf("user annotations %v, pod labels %v", a.App.UserAnnotations, pm.UserLabels)
	}
	if len(w.Mounts) != 1 || w.Mounts[0].Path != "/w" {
		t.Errorf("worker mounts = %+v", w.Mounts)
	}
	if len(pm.Volumes) != 1 || len(pm.Ports) != 1 {
		t.Errorf("volumes %+v ports %+v", pm.Volumes, pm.Ports)
	}
	if pm.Apps[0].Image.ID.String() != fakeID(1) || pm.Apps[0].Image.Name.String() != "example.com/busybox" {
		t.Errorf("image = %+v", pm.Apps[0].Image)
	}
}

func TestGenerateImplicitVolume(t *testing.T) {
	pm, err := generate(t, []string{"busybox"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pm.Volumes) != 1 || pm.Volumes[0].Name != "data" || pm.Volumes[0].Kind != "empty" {
		t.Errorf("volumes = %+v, want an implicit empty volume for mount point data", pm.Volumes)
	}
}

func TestGenerateImageWithoutApp(t *testing.T) {
	pm, err := generate(t, []string{"layer", "--exec=/bin/true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := pm.Apps[0].App; a.User != "0" || a.Exec[0] != "/bin/true" {
		t.Errorf("app = %+v", a)
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"busybox", "busybox"}, `two apps are named "busybox"`},
		{[]string{"busybox", "worker", "--name=busybox"}, `two apps are named "busybox"`},
		{[]string{"busybox", "--mount=volume=logs,target=/l"}, `volume "logs", which no --volume declares`},
		{[]string{"--mount=volume=logs,target=/l", "busybox"}, `volume "logs"`},
		{[]string{"layer"}, "has no app section: give --exec"},
		{[]string{"--port=ftp:21", "busybox"}, "no app in the pod exposes a port named ftp"},
		{[]string{"busybox", "--caps-retain=CAP_KILL", "--caps-remove=CAP_KILL"}, "cannot both be given"},
		{[]string{"nosuch"}, "image nosuch"},
		{[]string{"--volume=v,kind=host,source=/nonexistent/saturn", "busybox"}, "host source /nonexistent/saturn: no such file or directory"},
	}
	for _, tt := range tests {
		_, err := generate(t, tt.args, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one mentioning %q", tt.args, err, tt.want)
		}
	}
}

// writePodManifest writes a pod manifest of apps (JSON objects, comma
// separated) and returns its path.
func writePodManifest(t *testing.T, apps string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pod.json")
	js := `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[` + apps + `]}`
	if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadManifest(t *testing.T) {
	imgs := fakeImages{fakeID(1): imageManifest(t, "example.com/busybox", busyApp), fakeID(3): imageManifest(t, "example.com/layer", "")}
	write := func(apps string) string { return writePodManifest(t, apps) }
	app := func(name string, id int) string {
		return fmt.Sprintf(`{"name":%q,"image":{"id":%q}}`, name, fakeID(id))
	}
	pm, err := LoadManifest(write(app("one", 1)), imgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pm.Apps) != 1 || pm.Apps[0].Name != "one" {
		t.Errorf("apps = %+v", pm.Apps)
	}
	bad := []struct{ apps, want string }{
		{app("one", 1) + "," + app("one", 1), "duplicate apps"},
		{app("one", 9), "not found"},
		{app("one", 3), "no app section"},
		{"", "has no apps"},
	}
	for _, b := range bad {
		if _, err := LoadManifest(write(b.apps), imgs, nil); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("apps %s: error %v, want %q", b.apps, err, b.want)
		}
	}
	if _, err := LoadManifest(filepath.Join(t.TempDir(), "missing.json"), imgs, nil); err == nil {
		t.Error("missing manifest file accepted")
	}
}

func TestAppNameFromImage(t *testing.T) {
	tests := map[string]string{
		"example.com/busybox":       "busybox",
		"busybox":                   "busybox",
		"example.com/a/b/foo_bar.x": "foo-bar-x",
	}
	for in, want := range tests {
		got, err := AppNameFromImage(types.ACIdentifier(in))
		if err != nil || got.String() != want {
			t.Errorf("%s: %q, %v; want %q", in, got, err, want)
		}
	}
}
