package main

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/stage1abi"
)

func TestStage1InterfaceVersionOf(t *testing.T) {
	tests := []struct {
		name    string
		ann     map[string]string
		want    int
		wantErr string
	}{
		{"no version is 1", map[string]string{stage1abi.EntrypointRun: "/run"}, 1, ""},
		{"version 4", map[string]string{stage1abi.EntrypointRun: "/run", stage1abi.AnnInterfaceVersion: "4"}, 4, ""},
		{"version 2", map[string]string{stage1abi.EntrypointRun: "/run", stage1abi.AnnInterfaceVersion: "2"}, 2, ""},
		{"too new", map[string]string{stage1abi.EntrypointRun: "/run", stage1abi.AnnInterfaceVersion: "6"}, 0, "speaks stage1 interface version 6; saturn supports up to 5"},
		{"not a number", map[string]string{stage1abi.EntrypointRun: "/run", stage1abi.AnnInterfaceVersion: "four"}, 0, `invalid coreos.com/rkt/stage1/interface-version "four"`},
		{"zero", map[string]string{stage1abi.EntrypointRun: "/run", stage1abi.AnnInterfaceVersion: "0"}, 0, "invalid"},
		{"no run entrypoint", map[string]string{stage1abi.AnnInterfaceVersion: "4"}, 0, "is not a stage1 image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &schema.ImageManifest{Name: "example.com/stage1"}
			for k, v := range tc.ann {
				m.Annotations.Set(types.ACIdentifier(k), v)
			}
			got, err := stage1InterfaceVersionOf(m)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestStage1FlagsExclusive(t *testing.T) {
	g := newGlobals(io.Discard, io.Discard)
	for _, f := range []stage1Flags{
		{Path: "a.aci", URL: "https://x/a.aci"},
		{Name: "example.com/s1", Hash: "sha512-00"},
		{FromDir: "s1.aci", Path: "a.aci"},
	} {
		// The conflict is refused before the store is touched.
		_, _, err := g.stage1Image(nil, &f)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "are mutually exclusive") {
			t.Errorf("%+v: error %v, want a usage error", f, err)
		}
	}
	for _, tc := range []struct {
		f    stage1Flags
		want string
	}{
		{stage1Flags{FromDir: "../escape.aci"}, "not a path"},
		{stage1Flags{Hash: "example.com/stage1"}, "takes an image id"},
	} {
		_, _, err := g.stage1Image(nil, &tc.f)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want a usage error saying %q", tc.f, err, tc.want)
		}
	}
}
