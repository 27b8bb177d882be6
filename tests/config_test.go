package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeConfig writes a configuration file below a config directory.
func writeConfig(t *testing.T, dir, rel, content string) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaultStage1Location(t *testing.T) {
	e := newEnv(t)
	img := pidNSImage(t)
	// The system config names nspawn, the local config overrides it.
	writeConfig(t, e.SystemConfig, "stage1.d/s.json", `{"rktKind":"stage1","rktVersion":"v1","location":"`+stage1Image("stage1-nspawn")+`"}`)
	writeConfig(t, e.LocalConfig, "stage1.d/fly.json", `{"rktKind":"stage1","rktVersion":"v1","location":"`+stage1Image("stage1-fly")+`"}`)
	if !e.runsOnFly(img) {
		t.Fatal("the stage1 location of <local-config>/stage1.d was not used")
	}
	// A flag still wins over the configuration.
	if e.runsOnFly(img, "--stage1-path="+stage1Image("stage1-nspawn")) {
		t.Error("--stage1-path did not override the configured stage1")
	}
}

func TestConfigDefaultStage1Name(t *testing.T) {
	e := newEnv(t)
	img := pidNSImage(t)
	e.runsOnFly(img, "--stage1-path="+stage1Image("stage1-fly"))
	out := e.mustSaturn("image", "list", "--no-legend", "--full", "--fields=name")
	var name, version string
	for _, l := range strings.Fields(out) {
		if n, v, ok := strings.Cut(l, ":"); ok && n == "saturn-pods.org/stage1-fly" {
			name, version = n, v
		}
	}
	if name == "" {
		t.Fatalf("stage1-fly not in the store:\n%s", out)
	}
	// As rkt: name and version found in the store win; the location is
	// only a fallback (here one that does not exist).
	cfg := writeConfig(t, e.LocalConfig, "stage1.d/fly.json", `{"rktKind":"stage1","rktVersion":"v1",
		"name":"`+name+`","version":"`+version+`","location":"/nonexistent/stage1-fly.aci"}`)
	if !e.runsOnFly(img) {
		t.Fatal("the configured stage1 name and version were not used")
	}
	// A location whose file is missing falls back to the file of that
	// name beside the binary (build/stage1-images here), with a warning,
	// as rkt's did; with none there either the error names the location.
	writeConfig(t, e.LocalConfig, "stage1.d/fly.json", `{"rktKind":"stage1","rktVersion":"v1",
		"name":"example.com/missing-stage1","version":"1","location":"/nonexistent/stage1-fly.aci"}`)
	r := e.saturn("run", "--insecure-options=image", "--net=host", img)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != nsLink(t, "pid") || !strings.Contains(r.Stderr, "warning: configured stage1 image /nonexistent/stage1-fly.aci does not exist; using "+stage1Image("stage1-fly")) {
		t.Errorf("missing configured stage1 did not fall back to the one beside saturn, with a warning: %s", r)
	}
	writeConfig(t, e.LocalConfig, "stage1.d/fly.json", `{"rktKind":"stage1","rktVersion":"v1",
		"name":"example.com/missing-stage1","version":"1","location":"/nonexistent/no-such-stage1.aci"}`)
	e.failSaturn("/nonexistent/no-such-stage1.aci", "run", "--insecure-options=image", img)
	os.Remove(cfg)
}

func TestConfigMalformedFile(t *testing.T) {
	for _, tc := range []struct {
		rel, content, want string
	}{
		{"stage1.d/broken.json", `{"rktKind":"stage1",`, "invalid JSON"},
		{"stage1.d/relative.json", `{"rktKind":"stage1","rktVersion":"v1","location":"stage1.aci"}`, "absolute path or a URL"},
		{"paths.d/kind.json", `{"rktKind":"stage1","rktVersion":"v1","location":"/s.aci"}`, `kind "stage1" does not belong in paths.d`},
		{"auth.d/v2.json", `{"rktKind":"auth","rktVersion":"v2"}`, `unsupported version "v2"`},
		{"paths.d/empty.json", "", "file is empty"},
		{"paths.d/twice.json", `{"rktKind":"paths","rktVersion":"v1","data":"/a","data":"/b"}`, `key "data" appears more than once`},
		{"auth.d/nopass.json", `{"rktKind":"auth","rktVersion":"v1","domains":["a.com"],"type":"basic","credentials":{"user":"u"}}`, `non-empty "password"`},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			e := newEnv(t)
			path := writeConfig(t, e.LocalConfig, tc.rel, tc.content)
			for _, args := range [][]string{
				{"run", "--insecure-options=image", pidNSImage(t)},
				{"config"},
				{"image", "list"},
			} {
				r := e.failSaturn(path, args...)
				if !strings.Contains(r.Stderr, tc.want) {
					t.Errorf("saturn %s: error does not say %q:\n%s", args[0], tc.want, r)
				}
			}
			if entries, _ := os.ReadDir(filepath.Join(e.Dir, "pods")); len(entries) > 0 {
				for _, d := range entries {
					if sub, _ := os.ReadDir(filepath.Join(e.Dir, "pods", d.Name())); len(sub) > 0 {
						t.Errorf("a run with broken configuration left a pod in %s", d.Name())
					}
				}
			}
		})
	}
}

func TestConfigPathsData(t *testing.T) {
	e := newEnv(t)
	data := filepath.Join(t.TempDir(), "configured-data")
	writeConfig(t, e.LocalConfig, "paths.d/paths.json", `{"rktKind":"paths","rktVersion":"v1","data":"`+data+`"}`)
	img := pidNSImage(t)
	// No --dir: the data directory comes from paths.d.
	cmd := exec.Command(saturnBin(), "--local-config="+e.LocalConfig, "--system-config="+e.SystemConfig,
		"--user-config="+e.UserConfig, "fetch", "--insecure-options=image", img)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fetch without --dir: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "cas")); err != nil {
		t.Errorf("the image store is not in the configured data dir: %v", err)
	}
	// --dir wins over the configuration.
	if list := e.mustSaturn("image", "list", "--no-legend"); strings.TrimSpace(list) != "" {
		t.Errorf("--dir store should be empty:\n%s", list)
	}
}

func TestConfigCommand(t *testing.T) {
	e := newEnv(t)
	writeConfig(t, e.SystemConfig, "auth.d/sys.json", `{"rktKind":"auth","rktVersion":"v1",
		"domains":["a.example","b.example"],"type":"basic","credentials":{"user":"sysuser","password":"syspass"}}`)
	writeConfig(t, e.SystemConfig, "auth.d/docker.json", `{"rktKind":"dockerAuth","rktVersion":"v1",
		"registries":["quay.io"],"credentials":{"user":"duser","password":"dpass"}}`)
	writeConfig(t, e.LocalConfig, "auth.d/local.json", `{"rktKind":"auth","rktVersion":"v1",
		"domains":["a.example"],"type":"oauth","credentials":{"token":"localtoken"}}`)
	writeConfig(t, e.LocalConfig, "paths.d/p.json", `{"rktKind":"paths","rktVersion":"v1","data":"/srv/saturn-data"}`)
	writeConfig(t, e.UserConfig, "stage1.d/s.json", `{"rktKind":"stage1","rktVersion":"v1","name":"example.com/s1","version":"2","location":"https://example.com/s1.aci"}`)
	out := e.mustSaturn("config")
	for _, secret := range []string{"syspass", "dpass", "localtoken"} {
		if strings.Contains(out, secret) {
			t.Errorf("config prints the secret %q:\n%s", secret, out)
		}
	}
	var got struct {
		Stage0 []map[string]any `json:"stage0"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("config output is not JSON: %v\n%s", err, out)
	}
	byKey := map[string]map[string]any{}
	for _, entry := range got.Stage0 {
		key := entry["rktKind"].(string)
		if d, ok := entry["domains"].([]any); ok {
			key += " " + d[0].(string)
		}
		if r, ok := entry["registries"].([]any); ok {
			key += " " + r[0].(string)
		}
		byKey[key] = entry
		if entry["rktVersion"] != "v1" {
			t.Errorf("entry without rktVersion v1: %v", entry)
		}
	}
	check := func(key, field, want string) {
		t.Helper()
		e, ok := byKey[key]
		if !ok {
			t.Errorf("no %s entry in:\n%s", key, out)
			return
		}
		v := e[field]
		if m, ok := v.(map[string]any); ok {
			v = m["user"].(string) + "/" + func() string {
				if p, ok := m["password"].(string); ok {
					return p
				}
				return m["token"].(string)
			}()
		}
		if v != want {
			t.Errorf("%s %s = %v, want %s", key, field, v, want)
		}
	}
	check("auth a.example", "type", "oauth")
	check("auth b.example", "type", "basic")
	check("auth b.example", "credentials", "sysuser/******")
	check("dockerAuth quay.io", "credentials", "duser/******")
	check("paths", "data", "/srv/saturn-data")
	check("stage1", "name", "example.com/s1")
	check("stage1", "version", "2")
	check("stage1", "location", "https://example.com/s1.aci")
	if len(byKey) != 5 {
		t.Errorf("want 5 entries (2 auth, 1 dockerAuth, paths, stage1), got %d:\n%s", len(byKey), out)
	}
}

func TestConfigPathsStage1Images(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	if err := os.Symlink(stage1Image("stage1-fly"), filepath.Join(dir, "custom-fly.aci")); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, e.LocalConfig, "paths.d/paths.json", `{"rktKind":"paths","rktVersion":"v1","stage1-images":"`+dir+`"}`)
	img := pidNSImage(t)
	if !e.runsOnFly(img, "--stage1-from-dir=custom-fly.aci") {
		t.Error("--stage1-from-dir did not look in the configured stage1-images directory")
	}
	// The default stage1 is looked for there too, and it has no
	// stage1-nspawn.aci: the error names the missing file.
	e.failSaturn(filepath.Join(dir, "stage1-nspawn.aci"), "run", "--insecure-options=image", img)
}

// TestConfigDockerStage1Location loads an rkt stage1 file whose location
// is a docker URL: the rest of saturn works, and only a run that would use
// that stage1 fails, saying why.
func TestConfigDockerStage1Location(t *testing.T) {
	e := newEnv(t)
	writeConfig(t, e.LocalConfig, "stage1.d/docker.json", `{"rktKind":"stage1","rktVersion":"v1","location":"docker://example.com/stage1"}`)
	if out := e.mustSaturn("config"); !strings.Contains(out, `"location": "docker://example.com/stage1"`) {
		t.Errorf("config does not show the docker location:\n%s", out)
	}
	e.mustSaturn("image", "list")
	img := pidNSImage(t)
	e.failSaturn(`unsupported URL scheme "docker"`, "run", "--insecure-options=image", img)
	if !e.runsOnFly(img, "--stage1-from-dir=stage1-fly.aci") {
		t.Error("a stage1 flag did not override the configured docker location")
	}
}
