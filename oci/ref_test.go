package oci

import (
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	dig := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		in, want, repo, tag string
		kind                Kind
	}{
		{"docker://busybox", "docker://registry-1.docker.io/library/busybox:latest", "registry-1.docker.io/library/busybox", "latest", Registry},
		{"docker://busybox:1.36", "docker://registry-1.docker.io/library/busybox:1.36", "registry-1.docker.io/library/busybox", "1.36", Registry},
		{"docker://docker.io/library/busybox", "docker://registry-1.docker.io/library/busybox:latest", "registry-1.docker.io/library/busybox", "latest", Registry},
		{"docker://someone/app", "docker://registry-1.docker.io/someone/app:latest", "registry-1.docker.io/someone/app", "latest", Registry},
		{"docker://127.0.0.1:5000/test/app:v1", "docker://127.0.0.1:5000/test/app:v1", "127.0.0.1:5000/test/app", "v1", Registry},
		{"docker://quay.io/a/b@" + dig, "docker://quay.io/a/b@" + dig, "quay.io/a/b", "", Registry},
		{"oci:/tmp/layout:v1", "oci:/tmp/layout:v1", "/tmp/layout", "v1", Layout},
		{"oci:/tmp/layout", "oci:/tmp/layout", "/tmp/layout", "", Layout},
		{"oci:/tmp/a:b/layout", "oci:/tmp/a:b/layout", "/tmp/a:b/layout", "", Layout},
		{"oci:/tmp/layout@" + dig, "oci:/tmp/layout@" + dig, "/tmp/layout", "", Layout},
		{"oci-archive:/tmp/img.tar:latest", "oci-archive:/tmp/img.tar:latest", "/tmp/img.tar", "latest", Archive},
		{"docker-archive:/tmp/save.tar", "docker-archive:/tmp/save.tar", "/tmp/save.tar", "", DockerArchive},
		{"docker-archive:/tmp/save.tar:localhost:5000/app:v2", "docker-archive:/tmp/save.tar:localhost:5000/app:v2", "/tmp/save.tar", "localhost:5000/app:v2", DockerArchive},
	}
	for _, tt := range tests {
		src, err := ParseSource(tt.in)
		if err != nil {
			t.Errorf("ParseSource(%q): %v", tt.in, err)
			continue
		}
		if src.Kind != tt.kind || src.String() != tt.want || src.Repository() != tt.repo || src.Tag() != tt.tag {
			t.Errorf("ParseSource(%q) = %v %q repo %q tag %q, want %v %q repo %q tag %q",
				tt.in, src.Kind, src.String(), src.Repository(), src.Tag(), tt.kind, tt.want, tt.repo, tt.tag)
		}
	}
	for _, bad := range []string{"docker://", "docker://UPPER/case", "docker://a/b@sha256:12", "oci:", "oci:/x@sha256:zz", "oci-archive::v1", "ftp://x"} {
		if _, err := ParseSource(bad); err == nil {
			t.Errorf("ParseSource(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseSource(%q): error of several lines: %q", bad, err)
		}
	}
}

func TestAppcName(t *testing.T) {
	for in, want := range map[string]string{
		"registry-1.docker.io/library/busybox": "registry-1.docker.io/library/busybox",
		"127.0.0.1:5000/test/app":              "127.0.0.1-5000/test/app",
		"/tmp/My Layout":                       "tmp/my_layout",
	} {
		got, err := AppcName(in)
		if err != nil || string(got) != want {
			t.Errorf("AppcName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
