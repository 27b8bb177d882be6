package pod

import (
	"slices"
	"testing"

	"github.com/spf13/pflag"
)

func TestNetFlagRepeated(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"default"}},
		{[]string{"--net"}, []string{"default"}},
		{[]string{"--net=a", "--net=b:IP=10.1.0.2"}, []string{"a", "b:IP=10.1.0.2"}},
		{[]string{"--net=a,b", "--net=c"}, []string{"a", "b", "c"}},
		{[]string{"--net=none", "--net=host"}, []string{"host"}},
		{[]string{"--net=none", "--net=default"}, []string{"default"}},
		{[]string{"--net=a", "--net=none"}, []string{"none"}},
	} {
		var o RuntimeOptions
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if err := o.Check(); err != nil || !slices.Equal(o.Net, tt.want) {
			t.Errorf("%q: Net = %q, %v; want %q", tt.args, o.Net, err, tt.want)
		}
	}
}
