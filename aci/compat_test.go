package aci

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goTool runs `go tool actool ARGS` from the module root, where go.mod
// declares appc's actool as a tool.
func goTool(t *testing.T, args ...string) []byte {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	cmd := exec.Command(goBin, append([]string{"tool", "actool"}, args...)...)
	cmd.Dir = ".." // the module root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go tool actool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// xattrRe strips xattrs from snapshots: actool does not archive them.
var xattrRe = regexp.MustCompile(` xattr:\S+`)

func withoutXattrs(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = xattrRe.ReplaceAllString(v, "")
	}
	return out
}

func TestCompatibleWithActool(t *testing.T) {
	dir := richLayout(t, "example.com/compat")
	out := t.TempDir()
	theirs := filepath.Join(out, "actool.aci")
	goTool(t, "build", dir, theirs)

	s := newMemSource()
	var ids []string
	for _, data := range [][]byte{readFile(t, theirs), buildBytes(t, dir, Gzip)} {
		img, err := Validate(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		plain, _, err := Decompress(bytes.NewReader(data))
		must(t, err)
		var buf bytes.Buffer
		_, err = buf.ReadFrom(plain)
		must(t, err)
		s.tars[img.ID] = buf.Bytes()
		s.manifests[img.ID] = img.Manifest
		ids = append(ids, img.ID)
	}
	if ids[0] == ids[1] {
		t.Fatal("actool and Build gave the same id; the manifest mtime should differ")
	}
	if a, b := s.manifests[ids[0]], s.manifests[ids[1]]; a.Name != b.Name || len(a.Labels) != len(b.Labels) {
		t.Errorf("manifests differ: %+v vs %+v", a, b)
	}

	var trees [2]map[string]string
	var manifests [2][]byte
	for i, id := range ids {
		dest := filepath.Join(out, "tree"+string(rune('0'+i)))
		must(t, Render(s, id, dest))
		trees[i] = withoutXattrs(snapshot(t, filepath.Join(dest, RootfsName)))
		manifests[i] = readFile(t, filepath.Join(dest, ManifestName))
	}
	compareTrees(t, trees[0], trees[1])
	compareTrees(t, withoutXattrs(snapshot(t, filepath.Join(dir, RootfsName))), trees[1])
	if !bytes.Equal(manifests[0], manifests[1]) {
		t.Errorf("rendered manifests differ:\n%s\n%s", manifests[0], manifests[1])
	}

	for _, c := range []Compression{NoCompression, Gzip, Bzip2, Xz} {
		ours := filepath.Join(out, "saturn-"+c.String()+".aci")
		must(t, os.WriteFile(ours, buildBytes(t, dir, c), 0o644))
		goTool(t, "validate", ours)
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	must(t, err)
	return data
}
