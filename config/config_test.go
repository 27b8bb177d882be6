package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeTree creates files (relative path -> content) under a new temp dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadKinds(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  Config
	}{{
		name: "empty directory",
		want: Config{},
	}, {
		name: "paths",
		files: map[string]string{"paths.d/p.json": `{"rktKind":"paths","rktVersion":"v1",
			"data":"/srv/saturn/","stage1-images":"/opt/s1"}`},
		want: Config{Paths: Paths{Data: "/srv/saturn", Stage1Images: "/opt/s1"}},
	}, {
		name: "paths split over two files",
		files: map[string]string{
			"paths.d/a.json": `{"rktKind":"paths","rktVersion":"v1","data":"/d"}`,
			"paths.d/b.json": `{"rktKind":"paths","rktVersion":"v1","stage1-images":"/s"}`,
		},
		want: Config{Paths: Paths{Data: "/d", Stage1Images: "/s"}},
	}, {
		// rkt accepts a docker location; the file must load unchanged even
		// though saturn refuses the scheme only when the stage1 is used.
		name:  "stage1 docker location of an rkt file",
		files: map[string]string{"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1","location":"docker://example.com/stage1"}`},
		want:  Config{Stage1: Stage1{Location: "docker://example.com/stage1"}},
	}, {
		name:  "saturnKind synonym",
		files: map[string]string{"paths.d/p.json": `{"saturnKind":"paths","saturnVersion":"v1","data":"/d"}`},
		want:  Config{Paths: Paths{Data: "/d"}},
	}, {
		name:  "both spellings agreeing",
		files: map[string]string{"paths.d/p.json": `{"rktKind":"paths","saturnKind":"paths","rktVersion":"v1","data":"/d"}`},
		want:  Config{Paths: Paths{Data: "/d"}},
	}, {
		name: "stage1 name version location",
		files: map[string]string{"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1",
			"name":"example.com/stage1-fly","version":"1.0","location":"/opt/stage1-fly.aci"}`},
		want: Config{Stage1: Stage1{Name: "example.com/stage1-fly", Version: "1.0", Location: "/opt/stage1-fly.aci"}},
	}, {
		name: "stage1 location URL only",
		files: map[string]string{"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1",
			"location":"https://example.com/s1.aci"}`},
		want: Config{Stage1: Stage1{Location: "https://example.com/s1.aci"}},
	}, {
		name: "auth basic and oauth",
		files: map[string]string{
			"auth.d/basic.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a.com","b.com:8443"],
				"type":"basic","credentials":{"user":"u","password":"p"}}`,
			"auth.d/oauth.json": `{"rktKind":"auth","rktVersion":"v1","domains":["c.com"],
				"type":"oauth","credentials":{"token":"tok"}}`,
		},
		want: Config{Auth: map[string]Credentials{
			"a.com":      {Type: "basic", User: "u", Password: "p"},
			"b.com:8443": {Type: "basic", User: "u", Password: "p"},
			"c.com":      {Type: "oauth", Token: "tok"},
		}},
	}, {
		name: "dockerAuth in auth.d and dockerAuth.d",
		files: map[string]string{
			"auth.d/docker.json": `{"rktKind":"dockerAuth","rktVersion":"v1","registries":["quay.io"],
				"credentials":{"user":"u","password":"p"}}`,
			"dockerAuth.d/gcr.json": `{"rktKind":"dockerAuth","rktVersion":"v1","registries":["gcr.io"],
				"credentials":{"user":"g","password":"q"}}`,
		},
		want: Config{DockerAuth: map[string]BasicCredentials{"quay.io": {"u", "p"}, "gcr.io": {"g", "q"}}},
	}, {
		name: "dockerRegistry mirrors and insecure registries",
		files: map[string]string{
			"registries.d/hub.json": `{"saturnKind":"dockerRegistry","saturnVersion":"v1","registries":["docker.io","index.docker.io"],
				"mirrors":["mirror.example:5000","127.0.0.1:5001"]}`,
			"registries.d/lab.json": `{"saturnKind":"dockerRegistry","saturnVersion":"v1","registries":["lab.example:5000"],"insecure":true}`,
		},
		want: Config{Registries: map[string]Registry{
			"docker.io":        {Mirrors: []string{"mirror.example:5000", "127.0.0.1:5001"}},
			"index.docker.io":  {Mirrors: []string{"mirror.example:5000", "127.0.0.1:5001"}},
			"lab.example:5000": {Insecure: true},
		}},
	}, {
		name: "non-json files and subdirectories are ignored",
		files: map[string]string{
			"paths.d/README":          "not json",
			"paths.d/old.json.bak":    "{",
			"paths.d/sub.json/x.json": `{"rktKind":"paths","rktVersion":"v1","data":"/nope"}`,
			"paths.d/p.json":          `{"rktKind":"paths","rktVersion":"v1","data":"/d"}`,
		},
		want: Config{Paths: Paths{Data: "/d"}},
	}, {
		name:  "unknown fields are ignored",
		files: map[string]string{"paths.d/p.json": `{"rktKind":"paths","rktVersion":"v1","data":"/d","future":1}`},
		want:  Config{Paths: Paths{Data: "/d"}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			got, err := Load(dir)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			normalize(&tc.want)
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func normalize(c *Config) {
	if c.Auth == nil {
		c.Auth = map[string]Credentials{}
	}
	if c.DockerAuth == nil {
		c.DockerAuth = map[string]BasicCredentials{}
	}
	if c.Registries == nil {
		c.Registries = map[string]Registry{}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		badFile string // the file the error must name
		wantErr string
	}{
		{"invalid JSON", map[string]string{"paths.d/p.json": `{"rktKind":`}, "paths.d/p.json", "invalid JSON"},
		{"empty file", map[string]string{"paths.d/p.json": ""}, "paths.d/p.json", "file is empty"},
		{"blank file", map[string]string{"paths.d/p.json": " \n\t\n"}, "paths.d/p.json", "file is empty"},
		{"key twice", map[string]string{"paths.d/p.json": `{"rktKind":"paths","rktVersion":"v1","data":"/a","data":"/b"}`}, "paths.d/p.json", `key "data" appears more than once`},
		{"nested key twice", map[string]string{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"basic","credentials":{"user":"u","password":"p","user":"v"}}`}, "auth.d/a.json", `key "credentials.user" appears more than once`},
		{"not an object", map[string]string{"paths.d/p.json": `[1]`}, "paths.d/p.json", "invalid JSON"},
		{"missing kind", map[string]string{"paths.d/p.json": `{"rktVersion":"v1","data":"/d"}`}, "paths.d/p.json", "rktKind is missing"},
		{"missing version", map[string]string{"paths.d/p.json": `{"rktKind":"paths","data":"/d"}`}, "paths.d/p.json", "rktVersion is missing"},
		{"spellings disagree", map[string]string{"paths.d/p.json": `{"rktKind":"paths","saturnKind":"auth","rktVersion":"v1"}`}, "paths.d/p.json", "disagree"},
		{"unknown kind", map[string]string{"paths.d/p.json": `{"rktKind":"network","rktVersion":"v1"}`}, "paths.d/p.json", `unknown kind "network"`},
		{"kind in wrong directory", map[string]string{"stage1.d/p.json": `{"rktKind":"paths","rktVersion":"v1","data":"/d"}`}, "stage1.d/p.json", "does not belong in stage1.d"},
		{"unknown version", map[string]string{"paths.d/p.json": `{"rktKind":"paths","rktVersion":"v2","data":"/d"}`}, "paths.d/p.json", `unsupported version "v2"`},
		{"paths empty", map[string]string{"paths.d/p.json": `{"rktKind":"paths","rktVersion":"v1"}`}, "paths.d/p.json", "sets neither"},
		{"paths relative", map[string]string{"paths.d/p.json": `{"rktKind":"paths","rktVersion":"v1","data":"var/lib"}`}, "paths.d/p.json", "absolute path"},
		{"paths wrong type", map[string]string{"paths.d/p.json": `{"rktKind":"paths","rktVersion":"v1","data":5}`}, "paths.d/p.json", `field "data"`},
		{"paths twice in one dir", map[string]string{
			"paths.d/a.json": `{"rktKind":"paths","rktVersion":"v1","data":"/a"}`,
			"paths.d/b.json": `{"rktKind":"paths","rktVersion":"v1","data":"/b"}`,
		}, "paths.d/b.json", "already set in"},
		{"stage1 empty", map[string]string{"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1"}`}, "stage1.d/s.json", "sets none"},
		{"stage1 name without version", map[string]string{"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1","name":"x"}`}, "stage1.d/s.json", "together"},
		{"stage1 relative location", map[string]string{"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1","location":"s1.aci"}`}, "stage1.d/s.json", "absolute path or a URL"},
		{"stage1 bad scheme", map[string]string{"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1","location":"ftp://x/s1.aci"}`}, "stage1.d/s.json", `unsupported URL scheme "ftp"`},
		{"stage1 twice in one dir", map[string]string{
			"stage1.d/a.json": `{"rktKind":"stage1","rktVersion":"v1","location":"/a.aci"}`,
			"stage1.d/b.json": `{"rktKind":"stage1","rktVersion":"v1","location":"/b.aci"}`,
		}, "stage1.d/b.json", "already set in"},
		{"auth no domains", map[string]string{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","type":"oauth","credentials":{"token":"t"}}`}, "auth.d/a.json", `"domains" is missing`},
		{"auth no type", map[string]string{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"credentials":{"token":"t"}}`}, "auth.d/a.json", `"type" is missing`},
		{"auth unknown type", map[string]string{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"digest","credentials":{"token":"t"}}`}, "auth.d/a.json", `unknown auth type "digest"`},
		{"dockerRegistry mirror is a URL", map[string]string{"registries.d/r.json": `{"saturnKind":"dockerRegistry","saturnVersion":"v1","registries":["a.io"],"mirrors":["https://m.io"]}`}, "registries.d/r.json", `mirror "https://m.io" is not a host`},
		{"dockerRegistry no registries", map[string]string{"registries.d/r.json": `{"saturnKind":"dockerRegistry","saturnVersion":"v1","insecure":true}`}, "registries.d/r.json", `"registries" is missing`},
		{"auth no credentials", map[string]string{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"basic"}`}, "auth.d/a.json", `"credentials" is missing`},
		{"auth basic no password", map[string]string{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"basic","credentials":{"user":"u"}}`}, "auth.d/a.json", `non-empty "password"`},
		{"auth oauth empty token", map[string]string{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"oauth","credentials":{"token":""}}`}, "auth.d/a.json", `non-empty "token"`},
		{"auth oauth with user", map[string]string{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"oauth","credentials":{"token":"t","user":"u"}}`}, "auth.d/a.json", `unknown key "user"`},
		{"auth domain is a URL", map[string]string{"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["https://a.com/x"],"type":"oauth","credentials":{"token":"t"}}`}, "auth.d/a.json", "not a host"},
		{"auth same domain in two files", map[string]string{
			"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a.com"],"type":"oauth","credentials":{"token":"t"}}`,
			"auth.d/b.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a.com"],"type":"oauth","credentials":{"token":"u"}}`,
		}, "auth.d/b.json", "auth domain a.com is already set in"},
		{"dockerAuth no registries", map[string]string{"auth.d/d.json": `{"rktKind":"dockerAuth","rktVersion":"v1","credentials":{"user":"u","password":"p"}}`}, "auth.d/d.json", `"registries" is missing`},
		{"dockerAuth no user", map[string]string{"auth.d/d.json": `{"rktKind":"dockerAuth","rktVersion":"v1","registries":["q.io"],"credentials":{"password":"p"}}`}, "auth.d/d.json", `non-empty "user"`},
		{"dockerAuth in dockerAuth.d twice", map[string]string{
			"auth.d/a.json":       `{"rktKind":"dockerAuth","rktVersion":"v1","registries":["q.io"],"credentials":{"user":"u","password":"p"}}`,
			"dockerAuth.d/b.json": `{"rktKind":"dockerAuth","rktVersion":"v1","registries":["q.io"],"credentials":{"user":"v","password":"p"}}`,
		}, "dockerAuth.d/b.json", "already set in"},
		{"auth kind in dockerAuth.d", map[string]string{"dockerAuth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"oauth","credentials":{"token":"t"}}`}, "dockerAuth.d/a.json", "does not belong in dockerAuth.d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, filepath.Join(dir, tc.badFile)) {
				t.Errorf("error %q does not name %s", msg, tc.badFile)
			}
			if !strings.Contains(msg, tc.wantErr) {
				t.Errorf("error %q does not contain %q", msg, tc.wantErr)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q spans several lines", msg)
			}
		})
	}
}

func TestLoadUnreadableFile(t *testing.T) {
	dir := writeTree(t, nil)
	if err := os.MkdirAll(filepath.Join(dir, "paths.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "paths.d", "dangling.json")
	if err := os.Symlink(filepath.Join(dir, "missing"), link); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), link) {
		t.Fatalf("Load = %v, want an error naming %s", err, link)
	}
}

// TestOverride checks the per-kind override rules across system, local
// and user directories.
func TestOverride(t *testing.T) {
	system := writeTree(t, map[string]string{
		"paths.d/p.json":  `{"rktKind":"paths","rktVersion":"v1","data":"/sys-data","stage1-images":"/sys-s1"}`,
		"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1","name":"sys/s1","version":"1","location":"/sys.aci"}`,
		"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a.com","b.com","c.com"],
			"type":"oauth","credentials":{"token":"common"}}`,
		"auth.d/d.json": `{"rktKind":"dockerAuth","rktVersion":"v1","registries":["q.io","g.io"],
			"credentials":{"user":"u","password":"p"}}`,
	})
	local := writeTree(t, map[string]string{
		"paths.d/p.json":  `{"rktKind":"paths","rktVersion":"v1","data":"/local-data"}`,
		"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1","location":"/local.aci"}`,
		"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["a.com"],
			"type":"basic","credentials":{"user":"foo","password":"bar"}}`,
		"dockerAuth.d/d.json": `{"rktKind":"dockerAuth","rktVersion":"v1","registries":["q.io"],
			"credentials":{"user":"lu","password":"lp"}}`,
	})
	user := writeTree(t, map[string]string{
		"stage1.d/s.json": `{"rktKind":"stage1","rktVersion":"v1","name":"user/s1","version":"2"}`,
		"auth.d/a.json": `{"rktKind":"auth","rktVersion":"v1","domains":["b.com"],
			"type":"oauth","credentials":{"token":"mine"}}`,
	})
	got, err := Load(system, local, "", user)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Paths:  Paths{Data: "/local-data", Stage1Images: "/sys-s1"},
		Stage1: Stage1{Name: "user/s1", Version: "2", Location: "/local.aci"},
		Auth: map[string]Credentials{
			"a.com": {Type: "basic", User: "foo", Password: "bar"},
			"b.com": {Type: "oauth", Token: "mine"},
			"c.com": {Type: "oauth", Token: "common"},
		},
		DockerAuth: map[string]BasicCredentials{"q.io": {"lu", "lp"}, "g.io": {"u", "p"}},
		Registries: map[string]Registry{},
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("got %+v\nwant %+v", *got, want)
	}
	if h := got.AuthHeader("a.com").Get("Authorization"); h != "Basic Zm9vOmJhcg==" {
		t.Errorf("a.com header = %q", h)
	}
	if h := got.AuthHeader("c.com").Get("Authorization"); h != "Bearer common" {
		t.Errorf("c.com header = %q", h)
	}
	if h := got.AuthHeader("d.com"); h != nil {
		t.Errorf("d.com header = %v, want none", h)
	}
}

func TestEntriesMaskSecrets(t *testing.T) {
	c := &Config{
		Paths:      Paths{Data: "/d"},
		Stage1:     Stage1{Location: "/s1.aci"},
		Auth:       map[string]Credentials{"b.com": {Type: "oauth", Token: "secret-token"}, "a.com": {Type: "basic", User: "me", Password: "secret-pw"}},
		DockerAuth: map[string]BasicCredentials{"q.io": {"du", "secret-docker"}},
	}
	out, err := json.Marshal(c.Entries())
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "secret") {
		t.Errorf("secrets leak into %s", s)
	}
	want := `[{"rktVersion":"v1","rktKind":"auth","domains":["a.com"],"type":"basic","credentials":{"user":"me","password":"******"}},` +
		`{"rktVersion":"v1","rktKind":"auth","domains":["b.com"],"type":"oauth","credentials":{"token":"******"}},` +
		`{"rktVersion":"v1","rktKind":"dockerAuth","registries":["q.io"],"credentials":{"user":"du","password":"******"}},` +
		`{"rktVersion":"v1","rktKind":"paths","data":"/d"},` +
		`{"rktVersion":"v1","rktKind":"stage1","location":"/s1.aci"}]`
	if s != want {
		t.Errorf("entries:\n%s\nwant\n%s", s, want)
	}
}

// TestEntriesReload checks that printed entries (secrets aside) are valid
// configuration files that load back to the same configuration.
func TestEntriesReload(t *testing.T) {
	c := &Config{
		Paths:  Paths{Data: "/d", Stage1Images: "/s"},
		Stage1: Stage1{Name: "n", Version: "v", Location: "/s1.aci"},
		Auth:   map[string]Credentials{"a.com": {Type: "oauth", Token: Mask}},
	}
	files := map[string]string{}
	for i, e := range c.Entries() {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var h header
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatal(err)
		}
		sub := map[string]string{"paths": "paths.d", "stage1": "stage1.d", "auth": "auth.d"}[h.RktKind]
		files[filepath.Join(sub, string(rune('a'+i))+".json")] = string(b)
	}
	got, err := Load(writeTree(t, files))
	if err != nil {
		t.Fatal(err)
	}
	normalize(c)
	if !reflect.DeepEqual(got, c) {
		t.Errorf("reloaded %+v, want %+v", got, c)
	}
}
