package activation

import (
	"reflect"
	"strings"
	"testing"
)

func TestReceived(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want []Socket
		err  string
	}{
		{name: "none", env: map[string]string{}},
		{name: "another process's", env: map[string]string{"LISTEN_FDS": "2", "LISTEN_PID": "99"}},
		{name: "no pid", env: map[string]string{"LISTEN_FDS": "1"}},
		{name: "unnamed", env: map[string]string{"LISTEN_FDS": "2", "LISTEN_PID": "42"}, want: []Socket{{FD: 3}, {FD: 4}}},
		{name: "named", env: map[string]string{"LISTEN_FDS": "2", "LISTEN_PID": "42", "LISTEN_FDNAMES": "web:admin"},
			want: []Socket{{FD: 3, Name: "web"}, {FD: 4, Name: "admin"}}},
		{name: "fewer names", env: map[string]string{"LISTEN_FDS": "2", "LISTEN_PID": "42", "LISTEN_FDNAMES": "web"},
			want: []Socket{{FD: 3, Name: "web"}, {FD: 4}}},
		{name: "zero", env: map[string]string{"LISTEN_FDS": "0", "LISTEN_PID": "42"}, want: []Socket{}},
		{name: "not a number", env: map[string]string{"LISTEN_FDS": "x", "LISTEN_PID": "42"}, err: "not a number"},
		{name: "negative", env: map[string]string{"LISTEN_FDS": "-1", "LISTEN_PID": "42"}, err: "not a number"},
		{name: "huge", env: map[string]string{"LISTEN_FDS": "100000", "LISTEN_PID": "42"}, err: "not a number"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Received(func(k string) string { return c.env[k] }, 42)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

func TestAssign(t *testing.T) {
	web := App{Name: "web", Ports: []string{"http", "https"}}
	admin := App{Name: "admin", Ports: []string{"control"}}
	plain := App{Name: "plain"}
	for _, c := range []struct {
		name  string
		socks []Socket
		apps  []App
		want  map[string][]int
		err   string
	}{
		{name: "nothing passed", apps: []App{web}},
		{name: "unnamed to the only activated app", socks: []Socket{{FD: 3}, {FD: 4}}, apps: []App{plain, web},
			want: map[string][]int{"web": {0, 1}}},
		{name: "unit name to the only activated app", socks: []Socket{{FD: 3, Name: "web.socket"}}, apps: []App{web},
			want: map[string][]int{"web": {0}}},
		{name: "by port name", socks: []Socket{{FD: 3, Name: "control"}, {FD: 4, Name: "https"}, {FD: 5, Name: "http"}}, apps: []App{web, admin},
			want: map[string][]int{"admin": {0}, "web": {1, 2}}},
		{name: "no activated port", socks: []Socket{{FD: 3}}, apps: []App{plain}, err: "socket-activated fd 3: no app of the pod has a socket-activated port"},
		{name: "unnamed with two activated apps", socks: []Socket{{FD: 3, Name: "http"}, {FD: 4}}, apps: []App{web, admin},
			err: "socket-activated fd 4: name it after one of the apps' socket-activated ports (FileDescriptorName=), apps web, admin have some"},
		{name: "unknown name with two activated apps", socks: []Socket{{FD: 3, Name: "metrics"}}, apps: []App{web, admin},
			err: `socket-activated fd 3 ("metrics"): name it`},
		{name: "port name of two apps", socks: []Socket{{FD: 3, Name: "http"}}, apps: []App{web, {Name: "web2", Ports: []string{"http"}}},
			err: `socket-activated fd 3 ("http"): apps web, web2 all have`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Assign(c.socks, c.apps)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	if got, want := Env([]Socket{{FD: 3}, {FD: 7}}, 5), []string{"LISTEN_PID=5", "LISTEN_FDS=2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("unnamed: %v, want %v", got, want)
	}
	if got, want := Env([]Socket{{FD: 3, Name: "a"}, {FD: 4}}, 1), []string{"LISTEN_PID=1", "LISTEN_FDS=2", "LISTEN_FDNAMES=a:unknown"}; !reflect.DeepEqual(got, want) {
		t.Errorf("named: %v, want %v", got, want)
	}
	env := []string{"A=1", "LISTEN_FDS=2", "LISTEN_PID=3", "LISTEN_FDNAMES=x", "LISTEN_FDSX=1"}
	if got, want := Strip(env), []string{"A=1", "LISTEN_FDSX=1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Strip: %v, want %v", got, want)
	}
}
