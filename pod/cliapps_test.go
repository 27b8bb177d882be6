package pod

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
	"github.com/spf13/pflag"
)

// parse runs the run command line parser with the pod and runtime flags.
func parse(args []string) (*PrepareOptions, *RuntimeOptions, error) {
	var o PrepareOptions
	var rt RuntimeOptions
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	rt.AddFlags(fs)
	if err := o.Apps.Parse(args, fs, true); err != nil {
		return nil, nil, err
	}
	if err := o.Check(); err != nil {
		return nil, nil, err
	}
	if err := rt.Check(); err != nil {
		return nil, nil, err
	}
	return &o, &rt, nil
}

func TestParseApps(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, o *PrepareOptions, rt *RuntimeOptions)
	}{{
		name: "one image",
		args: []string{"example.com/a"},
		check: func(t *testing.T, o *PrepareOptions, _ *RuntimeOptions) {
			wantImages(t, o, "example.com/a")
		},
	}, {
		name: "per-app flags follow their image",
		args: []string{"a.aci", "--exec=/bin/x", "--name=first", "--user=tester", "--group=testers",
			"b.aci", "--working-dir=/tmp", "--environment=A=1", "--environment=B=x=y", "--supplementary-gids=10,20"},
		check: func(t *testing.T, o *PrepareOptions, _ *RuntimeOptions) {
			wantImages(t, o, "a.aci", "b.aci")
			a, b := o.Apps.Apps[0], o.Apps.Apps[1]
			if a.Exec != "/bin/x" || a.Name != "first" || a.User != "tester" || a.Group != "testers" {
				t.Errorf("app a = %+v", a)
			}
			if b.Exec != "" || b.WorkingDir != "/tmp" || !reflect.DeepEqual(b.SupplementaryGIDs, []int{10, 20}) {
				t.Errorf("app b = %+v", b)
			}
			if v, _ := b.Environment.Get("B"); v != "x=y" {
				t.Errorf("B = %q, want x=y", v)
			}
		},
	}, {
		name: "app arguments with -- and ---",
		args: []string{"a", "--exec", "/bin/sh", "--", "-c", "echo --name=x", "---", "b", "--", "--loglevel", "verbose"},
		check: func(t *testing.T, o *PrepareOptions, _ *RuntimeOptions) {
			wantImages(t, o, "a", "b")
			if got := o.Apps.Apps[0].Args; !reflect.DeepEqual(got, []string{"-c", "echo --name=x"}) {
				t.Errorf("a args = %q", got)
			}
			if o.Apps.Apps[0].Name != "" {
				t.Errorf("flag inside app args was parsed: name %q", o.Apps.Apps[0].Name)
			}
			if got := o.Apps.Apps[1].Args; !reflect.DeepEqual(got, []string{"--loglevel", "verbose"}) {
				t.Errorf("b args = %q", got)
			}
		},
	}, {
		name: "flag right before app arguments",
		args: []string{"a", "--name=x", "--", "arg"},
		check: func(t *testing.T, o *PrepareOptions, _ *RuntimeOptions) {
			if a := o.Apps.Apps[0]; a.Name != "x" || !reflect.DeepEqual(a.Args, []string{"arg"}) {
				t.Errorf("app = %+v", a)
			}
		},
	}, {
		name: "mount before images applies to all, after to one",
		args: []string{"--volume=data,kind=empty", "--mount", "volume=data,target=/all", "a", "b", "--mount=volume=data,target=/b"},
		check: func(t *testing.T, o *PrepareOptions, _ *RuntimeOptions) {
			if len(o.Apps.Mounts) != 1 || o.Apps.Mounts[0].Path != "/all" {
				t.Errorf("global mounts = %+v", o.Apps.Mounts)
			}
			if len(o.Apps.Apps[0].Mounts) != 0 || len(o.Apps.Apps[1].Mounts) != 1 {
				t.Errorf("app mounts = %+v / %+v", o.Apps.Apps[0].Mounts, o.Apps.Apps[1].Mounts)
			}
			if len(o.Apps.Volumes) != 1 || o.Apps.Volumes[0].Kind != "empty" {
				t.Errorf("volumes = %+v", o.Apps.Volumes)
			}
		},
	}, {
		name: "host volume options",
		args: []string{"--volume", "work,kind=host,source=/srv,readOnly=true,recursive=false", "a"},
		check: func(t *testing.T, o *PrepareOptions, _ *RuntimeOptions) {
			v := o.Apps.Volumes[0]
			if v.Name != "work" || v.Source != "/srv" || v.ReadOnly == nil || !*v.ReadOnly || v.Recursive == nil || *v.Recursive {
				t.Errorf("volume = %+v", v)
			}
		},
	}, {
		name: "isolators and stdio",
		args: []string{"a", "--memory=64M", "--cpu=500m", "--cpu-shares=512", "--caps-retain=CAP_NET_ADMIN,sys_admin",
			"--seccomp=mode=remove,errno=ENOTSUP,reboot,@rkt/default-blacklist", "--oom-score-adj=100",
			"--stdin=stream", "--stdout=null", "--stderr=tty", "--readonly-rootfs"},
		check: func(t *testing.T, o *PrepareOptions, _ *RuntimeOptions) {
			a := o.Apps.Apps[0]
			if a.MemoryLimit == nil || a.MemoryLimit.Limit().Value() != 64*1000*1000 {
				t.Errorf("memory = %v", a.MemoryLimit)
			}
			if a.CPULimit == nil || a.CPULimit.Limit().MilliValue() != 500 {
				t.Errorf("cpu = %v", a.CPULimit)
			}
			if a.CPUShares == nil || *a.CPUShares != 512 || a.OOMScoreAdj == nil || *a.OOMScoreAdj != 100 {
				t.Errorf("shares %v oom %v", a.CPUShares, a.OOMScoreAdj)
			}
			if a.CapsRetain == nil || len(a.CapsRetain.Set()) != 2 || a.CapsRetain.Set()[1] != "CAP_SYS_ADMIN" {
				t.Errorf("caps = %+v", a.CapsRetain)
			}
			if a.Seccomp == nil || a.Seccomp.Name != types.LinuxSeccompRemoveSetName {
				t.Errorf("seccomp = %+v", a.Seccomp)
			}
			if a.Stdin != "stream" || a.Stdout != "null" || a.Stderr != "tty" || !a.ReadOnlyRootFS {
				t.Errorf("stdio/readonly = %+v", a)
			}
		},
	}, {
		name: "user annotations and labels: pod before images, app after",
		args: []string{"--user-annotation=pod=1", "--user-label", "tier=web", "a", "--user-annotation=app=2", "--user-label=x=y"},
		check: func(t *testing.T, o *PrepareOptions, _ *RuntimeOptions) {
			if o.Apps.UserAnnotations["pod"] != "1" || o.Apps.UserLabels["tier"] != "web" {
				t.Errorf("pod annotations %v labels %v", o.Apps.UserAnnotations, o.Apps.UserLabels)
			}
			a := o.Apps.Apps[0]
			if a.UserAnnotations["app"] != "2" || a.UserLabels["x"] != "y" {
				t.Errorf("app annotations %v labels %v", a.UserAnnotations, a.UserLabels)
			}
		},
	}, {
		name: "pod-wide flags between images",
		args: []string{"--set-env=A=1", "a", "--inherit-env", "--set-env=B=2", "--port=http:8080", "--no-overlay", "b",
			"--net=host", "--hostname=box", "--dns=8.8.8.8", "--dns-search=example.com", "--hosts-entry=10.0.0.1=db,10.0.0.2=cache", "--hosts-entry=10.0.0.1=db2",
			"--uuid-file-save=/tmp/u", "--ipc=private", "--interactive=false", "--mds-register=false"},
		check: func(t *testing.T, o *PrepareOptions, rt *RuntimeOptions) {
			wantImages(t, o, "a", "b")
			if !o.InheritEnv || !o.NoOverlay || o.UUIDFileSave != "/tmp/u" || len(o.SetEnv) != 2 {
				t.Errorf("options = %+v", o)
			}
			if len(o.Ports) != 1 || o.Ports[0].Name != "http" || o.Ports[0].HostPort != 8080 {
				t.Errorf("ports = %+v", o.Ports)
			}
			if rt.NetMode() != "host" || rt.Hostname != "box" || rt.IPC != "private" {
				t.Errorf("runtime = %+v", rt)
			}
			if r, h := rt.DNSConfMode(); r != "stage0" || h != "stage0" {
				t.Errorf("dns conf mode = %s,%s", r, h)
			}
			if !strings.Contains(rt.ResolvConf(), "nameserver 8.8.8.8\nsearch example.com\n") {
				t.Errorf("resolv.conf = %q", rt.ResolvConf())
			}
			// rkt's comma lists; the names of one address on one line.
			if h := rt.Hosts("box"); !strings.Contains(h, "127.0.0.1 localhost localhost.localdomain box\n") ||
				!strings.Contains(h, "\n10.0.0.1 db db2\n10.0.0.2 cache\n") {
				t.Errorf("hosts = %q", h)
			}
		},
	}, {
		name: "defaults",
		args: []string{"a"},
		check: func(t *testing.T, o *PrepareOptions, rt *RuntimeOptions) {
			if rt.NetMode() != "default" || rt.IPC != "auto" || o.PullPolicy != PullNew {
				t.Errorf("defaults: net %v ipc %q pull %q", rt.Net, rt.IPC, o.PullPolicy)
			}
			if r, h := rt.DNSConfMode(); r != "default" || h != "default" {
				t.Errorf("dns conf mode = %s,%s", r, h)
			}
		},
	}, {
		name: "net none, dns host, store-only",
		args: []string{"--net=none", "--dns=host", "--hosts-entry=host", "--store-only", "a"},
		check: func(t *testing.T, o *PrepareOptions, rt *RuntimeOptions) {
			if rt.NetMode() != "none" || o.PullPolicy != PullNever {
				t.Errorf("net %v pull %q", rt.Net, o.PullPolicy)
			}
			if r, h := rt.DNSConfMode(); r != "host" || h != "host" {
				t.Errorf("dns conf mode = %s,%s", r, h)
			}
		},
	}, {
		name: "pod manifest alone",
		args: []string{"--pod-manifest=/x/pod.json", "--net=host"},
		check: func(t *testing.T, o *PrepareOptions, _ *RuntimeOptions) {
			if o.PodManifest != "/x/pod.json" || len(o.Apps.Apps) != 0 {
				t.Errorf("options = %+v", o)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, rt, err := parse(tt.args)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.args, err)
			}
			tt.check(t, o, rt)
		})
	}
}

func wantImages(t *testing.T, o *PrepareOptions, want ...string) {
	t.Helper()
	var got []string
	for _, a := range o.Apps.Apps {
		got = append(got, a.Image)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("images = %q, want %q", got, want)
	}
}

func TestParseAppsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "at least one image"},
		{[]string{"--exec=/bin/sh", "a"}, "--exec must follow an image"},
		{[]string{"a", "--exec=/x", "--exec=/y"}, "--exec given twice"},
		{[]string{"--", "x"}, "image is required before app arguments"},
		{[]string{"a", "--", "x", "---", "--", "y"}, "only one set of app arguments"},
		{[]string{"a", "---"}, `"---" ends app arguments`},
		{[]string{"a", "--no-such-flag"}, "unknown flag"},
		{[]string{"a", "--name=Bad_Name"}, "invalid app name"},
		{[]string{"--volume=v,kind=nfs", "a"}, "invalid --volume"},
		{[]string{"--volume=v,kind=host", "a"}, "invalid --volume"},
		{[]string{"--volume=v,kind=empty", "--volume=v,kind=empty", "a"}, "declared twice"},
		{[]string{"a", "--mount=volume=v"}, "want volume=NAME,target=PATH"},
		{[]string{"a", "--mount=volume=v,target=.."}, "cannot replace the app's root"},
		{[]string{"a", "--mount=volume=v,target=/x,extra=1"}, "unknown parameter"},
		{[]string{"a", "--memory=16m"}, "too low"},
		{[]string{"a", "--memory=lots"}, "invalid memory limit"},
		// Beyond 63 bits a limit wrapped to a negative or zero number.
		{[]string{"a", "--memory=9223372036854775808"}, "does not fit in 63 bits"},
		{[]string{"a", "--memory=15E"}, "does not fit in 63 bits"},
		{[]string{"a", "--memory=8Ei"}, "does not fit in 63 bits"},
		{[]string{"a", "--memory=-5M"}, "must be positive"},
		{[]string{"a", "--memory=0"}, "must be positive"},
		{[]string{"a", "--cpu=20E"}, "fit in 63 bits"},
		{[]string{"a", "--cpu=-1"}, "cpu limit"},
		{[]string{"a", "--cpu-shares=x"}, "invalid cpu shares"},
		{[]string{"a", "--caps-retain=CAP_NET-ADMIN"}, "invalid capability"},
		{[]string{"a", "--seccomp=chmod"}, "needs mode=retain"},
		{[]string{"a", "--seccomp=mode=keep,chmod"}, "invalid --seccomp mode"},
		{[]string{"a", "--seccomp=mode=retain,chmod;rm"}, "invalid --seccomp entry"},
		{[]string{"a", "--seccomp=mode=remove,chmod,nosuchcall"}, `unknown system call "nosuchcall"`},
		{[]string{"a", "--seccomp=mode=remove,@docker/nosuch"}, `unknown seccomp group "@docker/nosuch"`},
		{[]string{"a", "--seccomp=mode=remove,errno=EWHAT,chmod"}, `unknown errno "EWHAT"`},
		{[]string{"a", "--seccomp=mode=retain,errno=eperm,chmod"}, "errno must start with an 'E'"},
		{[]string{"a", "--seccomp=mode=retain,@appc.io/empty"}, "no meaning in a retain set"},
		{[]string{"a", "--oom-score-adj=5000"}, "oom score adjust"},
		{[]string{"a", "--stdin=log"}, "invalid --stdin mode"},
		{[]string{"a", "--working-dir=tmp"}, "absolute path"},
		{[]string{"a", "--supplementary-gids=1,x"}, "invalid supplementary gid"},
		{[]string{"a", "--environment=NOEQUALS"}, "want NAME=VALUE"},
		{[]string{"a", "--user-label==v"}, "want NAME=VALUE"},
		{[]string{"a", "--readonly-rootfs=maybe"}, "invalid --readonly-rootfs"},
		{[]string{"--set-env=X", "a"}, "want NAME=VALUE"},
		{[]string{"--set-env-file=/nonexistent/env", "a"}, "--set-env-file"},
		{[]string{"--port=http", "a"}, "invalid --port"},
		{[]string{"--port=http:0", "a"}, "bad host port"},
		{[]string{"--port=http:1.2.3:80", "a"}, "bad host IP"},
		{[]string{"--port=Bad:80", "a"}, "bad port name"},
		{[]string{"--net=mynet,mynet", "a"}, "network mynet given twice"},
		{[]string{"--net=mynet,none", "a"}, "none cannot be combined"},
		{[]string{"--net-out=10.0.0.0/40", "a"}, "invalid --net-out"},
		{[]string{"--net-bandwidth=fast", "a"}, "invalid --net-bandwidth"},
		{[]string{"--net=host", "--net-bandwidth=1M", "a"}, "need a contained network"},
		{[]string{"--net=host,default", "a"}, "cannot be combined"},
		{[]string{"--ipc=shared", "a"}, "invalid --ipc"},
		{[]string{"--hostname=-bad", "a"}, "invalid --hostname"},
		{[]string{"--dns=not-an-ip", "a"}, "invalid --dns"},
		{[]string{"--dns=host", "--dns=1.1.1.1", "a"}, "cannot be combined"},
		{[]string{"--hosts-entry=db", "a"}, "invalid --hosts-entry"},
		// A newline would add resolv.conf or hosts lines of the caller's.
		{[]string{"--dns-opt=ndots:1\nnameserver 6.6.6.6", "a"}, `invalid --dns-opt "ndots:1\nnameserver 6.6.6.6": control character '\n'`},
		{[]string{"--dns-search=a.com\nnameserver 6.6.6.6", "a"}, "invalid --dns-search"},
		{[]string{"--dns-domain=x\r", "a"}, "invalid --dns-domain"},
		{[]string{"--dns-domain=x\x00", "a"}, "control character"},
		{[]string{"--hosts-entry=10.0.0.1=db\n10.6.6.6 bank.example", "a"}, "invalid --hosts-entry"},
		{[]string{"--hosts-entry=10.0.0.1=db\tx", "a"}, "control character"},
		{[]string{"--net=none", "--mds-register", "a"}, "--mds-register does not work with --net=none"},
		{[]string{"--net=host", "--mds-register", "a"}, "--mds-register: saturn has no metadata service yet"},
		{[]string{"--pod-manifest=/p", "a"}, "conflicting flags set with --pod-manifest"},
		{[]string{"--pod-manifest=/p", "--volume=v,kind=empty"}, "conflicting flags set with --pod-manifest"},
		{[]string{"--pull-policy=sometimes", "a"}, "invalid --pull-policy"},
		{[]string{"--store-only", "--no-store", "a"}, "conflict"},
	}
	for _, tt := range tests {
		_, _, err := parse(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parse %q: error %v, want one mentioning %q", tt.args, err, tt.want)
		}
	}
}

func TestSetEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env")
	content := "# comment\n; also comment\n\nA=1\nB=two=2\n  C=3  \n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	o, _, err := parse([]string{"--set-env-file=" + path, "a"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two=2", "C": "3"}
	if len(o.SetEnvFile) != len(want) {
		t.Fatalf("env = %+v", o.SetEnvFile)
	}
	for k, v := range want {
		if got, _ := o.SetEnvFile.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if err := os.WriteFile(path, []byte("A=1\nbroken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := parse([]string{"--set-env-file=" + path, "a"}); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("bad env file: error %v, want one naming line 2", err)
	}
}

// FuzzParseApps checks that no command line makes the parser panic and
// that what it accepts is consistent: every app has an image.
func FuzzParseApps(f *testing.F) {
	seeds := []string{
		"a --exec /bin/sh -- -c echo --- b",
		"--volume=v,kind=empty --mount volume=v,target=/x a --name=x",
		"a --memory=64M --cpu=1 --seccomp=mode=retain,chmod --caps-remove=CAP_KILL",
		"--net=host --dns=1.1.1.1 a -- --- b -- x",
		"--- -- a",
		"a --user-annotation=k=v --environment=A=B --readonly-rootfs",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		o, _, err := parse(strings.Fields(line))
		if err != nil {
			return
		}
		for _, a := range o.Apps.Apps {
			if a.Image == "" {
				t.Fatalf("%q: app without image", line)
			}
			a.ImageID = fakeID(1)
		}
		// Whatever the parser accepted, manifest generation either
		// refuses it or makes a manifest the schema reads back.
		imgs := fakeImages{fakeID(1): imageManifest(t, "example.com/busybox", busyApp)}
		if pm, err := Generate(o, imgs, []string{"HOME=/root"}); err == nil && len(pm.Apps) != len(o.Apps.Apps) {
			t.Fatalf("%q: %d apps in the manifest, %d on the command line", line, len(pm.Apps), len(o.Apps.Apps))
		}
	})
}
