package pod

import (
	"io"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/stage1abi"
)

// rkt spells the flag --oom-score-adjust; --oom-score-adj stays as a
// hidden alias for command lines written against earlier saturn.
func TestOOMScoreAdjustFlag(t *testing.T) {
	for _, tt := range []struct {
		flag string
		want int
	}{
		{"--oom-score-adjust=100", 100},
		{"--oom-score-adj=-5", -5},
	} {
		o, _, err := parse([]string{"img", tt.flag})
		if err != nil {
			t.Fatalf("%s: %v", tt.flag, err)
		}
		if adj := o.Apps.Apps[0].OOMScoreAdj; adj == nil || int(*adj) != tt.want {
			t.Errorf("%s: oom score adjust %v, want %d", tt.flag, adj, tt.want)
		}
	}
	if _, _, err := parse([]string{"img", "--oom-score-adjust=1001"}); err == nil {
		t.Error("--oom-score-adjust=1001 accepted")
	}
	var o PrepareOptions
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	usage := fs.FlagUsages()
	if !strings.Contains(usage, "--oom-score-adjust") || strings.Contains(usage, "--oom-score-adj ") {
		t.Errorf("usage lists the wrong oom flags:\n%s", usage)
	}
}

func TestMountOnRootRefused(t *testing.T) {
	for _, target := range []string{"/", "//", "/.", ".", "..", "a/..", "/../.."} {
		_, _, err := parse([]string{"--volume=data,kind=empty", "img", "--mount=volume=data,target=" + target})
		if err == nil || !strings.Contains(err.Error(), "cannot replace the app's root") {
			t.Errorf("target %q: %v", target, err)
		}
	}
}

func TestRuntimeCheckStage1NetModes(t *testing.T) {
	withModes := func(v string) *schema.ImageManifest {
		m := &schema.ImageManifest{Name: "example.com/stage1"}
		if v != "" {
			m.Annotations.Set(stage1abi.AnnNetModes, v)
		}
		return m
	}
	for _, tt := range []struct {
		net, modes, wantErr string
	}{
		{"none", "host,none", ""},
		{"host", " host , none ", ""},
		{"default", "", ""}, // no annotation: the stage1 decides, as rkt's do
		{"default", "host,none", "stage1 example.com/stage1 does not support --net=default (the default when --net is not given); it supports --net=host, --net=none"},
		{"none", "host,default", "does not support --net=none; it supports --net=host, --net=default"},
		{"default:IP=10.1.1.1", "host,default", ""},
	} {
		var o RuntimeOptions
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse([]string{"--net=" + tt.net}); err != nil {
			t.Fatal(err)
		}
		if err := o.Check(); err != nil {
			t.Fatalf("--net=%s: %v", tt.net, err)
		}
		err := o.CheckStage1(withModes(tt.modes))
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("--net=%s with modes %q: %v, want %q", tt.net, tt.modes, err, tt.wantErr)
		}
	}
}
