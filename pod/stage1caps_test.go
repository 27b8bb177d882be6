package pod

import (
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

func TestSplitIsolators(t *testing.T) {
	mem, _ := types.NewResourceMemoryIsolator("1G", "1G")
	other, _ := types.NewResourceMemoryIsolator("2G", "2G")
	shares := types.LinuxCPUShares(512)
	sharesIso := shares.AsIsolator()
	im := &schema.ImageManifest{App: &types.App{Isolators: types.Isolators{mem.AsIsolator()}}}
	tests := []struct {
		name          string
		ra            schema.RuntimeApp
		operator, img string
	}{
		{"no app section runs the image's", schema.RuntimeApp{}, "", "resource/memory"},
		{"the image's copy", schema.RuntimeApp{App: &types.App{Isolators: types.Isolators{mem.AsIsolator()}}}, "", "resource/memory"},
		{"a changed value is the operator's", schema.RuntimeApp{App: &types.App{Isolators: types.Isolators{other.AsIsolator()}}}, "resource/memory", ""},
		{"an added one", schema.RuntimeApp{App: &types.App{Isolators: types.Isolators{mem.AsIsolator(), sharesIso}}}, "os/linux/cpu-shares", "resource/memory"},
	}
	names := func(isos types.Isolators) string {
		var n []string
		for _, i := range isos {
			n = append(n, i.Name.String())
		}
		return strings.Join(n, ",")
	}
	for _, tt := range tests {
		op, img := SplitIsolators(&tt.ra, im)
		if names(op) != tt.operator || names(img) != tt.img {
			t.Errorf("%s: operator %q image %q, want %q and %q", tt.name, names(op), names(img), tt.operator, tt.img)
		}
	}
}
