package config

import (
	"strings"
	"testing"
)

func TestStoreKind(t *testing.T) {
	sys := writeTree(t, map[string]string{"store.d/s.json": `{"rktKind":"store","rktVersion":"v1","max-image-size":"1TiB"}`})
	local := writeTree(t, map[string]string{"store.d/s.json": `{"saturnKind":"store","saturnVersion":"v1","max-image-size":"16G"}`})
	c, err := Load(sys)
	if err != nil || c.Store.MaxImageSize != 1<<40 {
		t.Fatalf("store kind: %+v, %v; want 1TiB", c, err)
	}
	if c, err = Load(sys, local); err != nil || c.Store.MaxImageSize != 16<<30 {
		t.Fatalf("local over system: %+v, %v; want 16GiB", c, err)
	}
	for content, want := range map[string]string{
		`{"rktKind":"store","rktVersion":"v1"}`:                             `sets no "max-image-size"`,
		`{"rktKind":"store","rktVersion":"v1","max-image-size":"0"}`:        "invalid size",
		`{"rktKind":"store","rktVersion":"v1","max-image-size":"8192P"}`:    "too large",
		`{"rktKind":"store","rktVersion":"v1","max-image-size":16}`:         `field "max-image-size"`,
		`{"rktKind":"paths","rktVersion":"v1","data":"/d"}`:                 "does not belong in store.d",
		`{"rktKind":"store","rktVersion":"v1","max-image-size":"1G","x":1}`: "",
	} {
		_, err := Load(writeTree(t, map[string]string{"store.d/s.json": content}))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", content, err, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1": 1, "4096": 4096, "4K": 4 << 10, "4KiB": 4 << 10, "64G": 64 << 30, "64GiB": 64 << 30,
		"2T": 2 << 40, "1P": 1 << 50, "9223372036854775807": 1<<63 - 1, "8191P": 8191 << 50,
		"0": -1, "-1": -1, "+5": -1, "": -1, "G": -1, "1.5G": -1, "1GB": -1, "1g": -1, " 1G": -1,
		"9223372036854775808": -1, "8192P": -1, "9007199254740992K": -1,
	} {
		got, err := ParseSize(in)
		if want < 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
