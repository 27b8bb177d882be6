package main

import (
	"strings"
	"testing"
	"time"

	"github.com/saturn-pods/saturn/store"
)

func TestParseImageFields(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "id,name,importtime,lastused,size,latest", want: "id name importtime lastused size latest"},
		{in: defaultImageFields, want: "id name size importtime lastused"},
		{in: "NAME, Size", want: "name size"},
		{in: "id", want: "id"},
		{in: "id,colour", wantErr: `unknown field "colour"`},
		{in: "", wantErr: "unknown field"},
		{in: "id,id", wantErr: `duplicated field "id"`},
	}
	for _, tt := range tests {
		got, err := parseImageFields(tt.in, "--fields", strings.Split(knownImageFields, ","))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseImageFields(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("parseImageFields(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	// --sort takes rkt's sortable fields only.
	for in, ok := range map[string]bool{"name,size": true, "importtime": true, "lastused": true, "id": false, "latest": false} {
		if _, err := parseImageFields(in, "--sort", imageSortFields); (err == nil) != ok {
			t.Errorf("--sort=%s: %v", in, err)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{9, "9 B"},
		{10, "10 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{2 << 20, "2.0 MiB"},
		{12 << 20, "12 MiB"},
		{143 << 20, "143 MiB"},
		{(9 << 30) + (1 << 29), "9.5 GiB"},
		{(1 << 20) - 1, "1024 KiB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.in); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRelativeTime(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{0, "now"},
		{500 * time.Millisecond, "now"},
		{time.Second, "1 second ago"},
		{59 * time.Second, "59 seconds ago"},
		{2 * time.Minute, "2 minutes ago"},
		{time.Hour, "1 hour ago"},
		{6 * 24 * time.Hour, "6 days ago"},
		{14 * 24 * time.Hour, "2 weeks ago"},
		{60 * 24 * time.Hour, "2 months ago"},
		{800 * 24 * time.Hour, "2 years ago"},
		{-3 * time.Minute, "3 minutes from now"},
	}
	for _, tt := range tests {
		if got := relativeTime(now.Add(-tt.ago), now); got != tt.want {
			t.Errorf("relativeTime(-%v) = %q, want %q", tt.ago, got, tt.want)
		}
	}
}

func TestImageIDForms(t *testing.T) {
	id := "sha512-" + strings.Repeat("0123456789abcdef", 8)
	if got := listID(id); got != "sha512-0123456789ab" {
		t.Errorf("listID = %q", got)
	}
	if got := shortID(id); got != "sha512-0123456789abcdef0123456789abcdef" {
		t.Errorf("shortID = %q", got)
	}
	if got := listID("sha512-abc"); got != "sha512-abc" {
		t.Errorf("listID of a short id = %q", got)
	}
}

func TestSortImages(t *testing.T) {
	t0 := time.Unix(1000, 0)
	infos := []store.ImageInfo{
		{ID: "sha512-b", Name: "b", ImportTime: t0, Size: 3},
		{ID: "sha512-a", Name: "a", ImportTime: t0.Add(time.Second), Size: 1},
		{ID: "sha512-c", Name: "c", ImportTime: t0.Add(-time.Second), Size: 2, Labels: map[string]string{"version": "1"}},
	}
	tests := []struct {
		by   []string
		desc bool
		want string
	}{
		{[]string{"importtime"}, false, "c b a"},
		{[]string{"name"}, false, "a b c"},
		{[]string{"size"}, true, "b c a"},
		{[]string{"id"}, true, "c b a"},
	}
	for _, tt := range tests {
		sortImages(infos, tt.by, tt.desc)
		var got []string
		for _, in := range infos {
			got = append(got, in.Name)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("sort by %v desc=%v: %v, want %s", tt.by, tt.desc, got, tt.want)
		}
	}
	if imageDisplayName(infos[0]) != "c:1" {
		t.Errorf("display name %q, want name:version", imageDisplayName(infos[0]))
	}
}
