package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/network"
	"github.com/saturn-pods/saturn/stage1abi"
)

// netFlags are the run entrypoint's networking flags (--net, and
// --net-out and --net-bandwidth of interface version 5), parsed.
type netFlags struct {
	mode string // host, none or contained
	reqs []network.Request
	out  []network.OutRule
	bw   *network.Bandwidth
}

// check parses the networking flags of rf.
func (f *netFlags) check(rf *stage1abi.RunFlags) error {
	netFlag := rf.Net
	var err error
	if f.mode, f.reqs, err = network.ParseNetFlag(netFlag); err != nil {
		return err
	}
	for _, s := range rf.NetOut {
		r, err := network.ParseOutRule(s)
		if err != nil {
			return err
		}
		f.out = append(f.out, r)
	}
	if rf.NetBandwidth != "" {
		if f.bw, err = network.ParseBandwidth(rf.NetBandwidth); err != nil {
			return err
		}
	}
	if f.mode != "contained" && (len(f.out) > 0 || f.bw != nil) {
		return fmt.Errorf("--net-out and --net-bandwidth need a contained network, not --net=%s", f.mode)
	}
	return nil
}

// podNet is the run entrypoint's view of the pod's networks.
type podNet struct {
	req      network.HelperRequest
	helper   int   // the network helper binary, opened before any app ran
	ports    []int // sockets holding the host ports for the pod's life
	sw       *network.NetNSSwitch
	resolv   string // stage1's --dns-conf-mode resolv mode
	hosts    string
	resolvOK bool // a plugin's DNS was written for PID 1
}

// helperName is the network helper's file name beside this binary in
// the stage1 image (stage1-nspawn/nethelper).
const helperName = "net"

// openHelper opens the network helper beside the running binary. The
// run entrypoint opens it before PID 1 exists and runs it through that
// descriptor, also at the pod's end: by then the apps have run, and the
// file of that name in the pod's writable stage1 rootfs is no longer to
// be trusted, but the inode opened before is the one stage0 rendered.
func openHelper() (int, error) {
	self, err := os.Executable()
	if err != nil {
		return -1, err
	}
	fd, err := unix.Open(filepath.Join(filepath.Dir(self), helperName), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("network helper: %w", err)
	}
	return fd, nil
}

// runHelper runs the network helper held open on fd for op with req and
// returns what it printed. The helper dies with this process
// (Pdeathsig), and its plugins with it. It is started from a goroutine
// of its own, never from the main thread, which is in the pod's network
// namespace while it forks PID 1 and stays there should it fail to
// leave: the helper must start in the host's.
func runHelper(fd int, op string, req *network.HelperRequest) ([]byte, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(fmt.Sprintf("/proc/self/fd/%d", fd), op)
	cmd.Args[0] = helperName
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Run() }()
	if err := <-errc; err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("network helper: %w", err)
	}
	return stdout.Bytes(), nil
}

// planNetwork checks what it can of the pod's networking before anything
// exists: ports the images declare and host ports free (and held from
// here on); the helper checks the networks and their plugins before it
// makes anything. It returns nil for --net=host and --net=none.
func planNetwork(podDir string, f *runFlags, plan *podPlan) (*podNet, error) {
	bw, err := imageBandwidth(plan)
	if err != nil {
		return nil, err
	}
	if f.netf.mode != "contained" {
		if bw != nil {
			fmt.Fprintf(os.Stderr, "stage1: warning: isolator %s is not enforced with --net=%s\n", isoNetworkBandwidth, f.netf.mode)
		}
		return nil, nil
	}
	n := &podNet{
		req: network.HelperRequest{PodDir: podDir, ContainerID: f.UUID, Net: f.Net, LocalConfig: f.LocalConfig,
			SystemConfig: f.SystemConfig, Bandwidth: f.netf.bw.Narrow(bw), NetOut: f.NetOut},
		helper: -1,
		resolv: f.DNSConfMode.Resolv,
		hosts:  f.DNSConfMode.Hosts,
	}
	if n.req.Ports, err = portMappings(plan); err != nil {
		return nil, err
	}
	if n.helper, err = openHelper(); err != nil {
		return nil, err
	}
	if err := n.holdPorts(); err != nil {
		n.release()
		return nil, err
	}
	return n, nil
}

// isoNetworkBandwidth is appc's bandwidth isolator: {"default": true,
// "limit": "1G"}, bytes per second each way.
const isoNetworkBandwidth = "resource/network-bandwidth"

// imageBandwidth is the tightest resource/network-bandwidth limit of the
// pod's apps and the pod, as one limit for the pod's network (its apps
// share it).
func imageBandwidth(plan *podPlan) (*network.Bandwidth, error) {
	var bw *network.Bandwidth
	isos := append([]appIsolator(nil), plan.manifest.Isolators...)
	for _, a := range plan.apps {
		isos = append(isos, a.isolators...)
	}
	for _, iso := range isos {
		if iso.Name != isoNetworkBandwidth {
			continue
		}
		var v struct {
			Limit string `json:"limit"`
		}
		if err := json.Unmarshal(iso.Value, &v); err != nil {
			return nil, fmt.Errorf("isolator %s: %w", iso.Name, err)
		}
		b, err := network.ParseBandwidth(v.Limit)
		if err != nil {
			return nil, fmt.Errorf("isolator %s: %w", iso.Name, err)
		}
		bw = bw.Narrow(b)
	}
	return bw, nil
}

// portMappings pairs the pod manifest's exposed ports (--port) with the
// ports the apps' images declare.
func portMappings(plan *podPlan) ([]network.PortMapping, error) {
	var out []network.PortMapping
	for _, ep := range plan.manifest.Ports {
		var found *appPort
		for _, a := range plan.apps {
			for i := range a.ports {
				if a.ports[i].Name == ep.Name {
					found = &a.ports[i]
				}
			}
		}
		if found == nil {
			return nil, fmt.Errorf("--port %s: no app of the pod declares a port of that name", ep.Name)
		}
		count := max(found.Count, 1)
		if ep.HostPort < 1 || ep.HostPort+count-1 > 65535 || found.Port < 1 || found.Port+count-1 > 65535 {
			return nil, fmt.Errorf("--port %s: port out of range", ep.Name)
		}
		proto := strings.ToLower(found.Protocol)
		if proto != "tcp" && proto != "udp" {
			return nil, fmt.Errorf("--port %s: protocol %q cannot be forwarded (want tcp or udp)", ep.Name, found.Protocol)
		}
		if ep.HostIP != "" && net.ParseIP(ep.HostIP) == nil {
			return nil, fmt.Errorf("--port %s: bad host IP %q", ep.Name, ep.HostIP)
		}
		for i := range count {
			out = append(out, network.PortMapping{HostPort: ep.HostPort + i, ContainerPort: found.Port + i, Protocol: proto, HostIP: ep.HostIP})
		}
	}
	return out, nil
}

// holdPorts binds every forwarded host port for the pod's life: a port
// a host process or another pod already has is refused here, before any
// network exists, and no one else takes it while the pod runs (the
// portmap plugin's rules alone reserve nothing). TCP ports are held by
// a listening socket, which, unlike a bound one, keeps others from
// listening even with SO_REUSEADDR.
func (n *podNet) holdPorts() error {
	for _, pm := range n.req.Ports {
		ip := net.IPv4zero
		if pm.HostIP != "" {
			ip = net.ParseIP(pm.HostIP)
		}
		fd, err := holdPort(ip, pm.HostPort, pm.Protocol)
		if err != nil {
			return fmt.Errorf("--port: host port %s/%d: %w", pm.Protocol, pm.HostPort, err)
		}
		n.ports = append(n.ports, fd)
	}
	return nil
}

func holdPort(ip net.IP, port int, proto string) (int, error) {
	family, sa := unix.AF_INET, unix.Sockaddr(nil)
	if ip4 := ip.To4(); ip4 != nil {
		sa4 := &unix.SockaddrInet4{Port: port}
		copy(sa4.Addr[:], ip4)
		sa = sa4
	} else {
		family = unix.AF_INET6
		sa6 := &unix.SockaddrInet6{Port: port}
		copy(sa6.Addr[:], ip.To16())
		sa = sa6
	}
	typ := unix.SOCK_STREAM
	if proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if typ == unix.SOCK_STREAM {
		// Connections of the host's that closed may linger in
		// TIME_WAIT; they do not make the port taken.
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	if err == nil && typ == unix.SOCK_STREAM {
		err = unix.Listen(fd, 1)
	}
	if err != nil {
		unix.Close(fd)
		if err == unix.EADDRINUSE {
			return -1, errors.New("already in use")
		}
		return -1, err
	}
	return fd, nil
}

// up has the helper make the pod's network namespace and attach the
// networks; the plugins run in the helper's process, whose threads are
// all in the host's namespace.
func (n *podNet) up() error {
	if n == nil {
		return nil
	}
	out, err := runHelper(n.helper, "setup", &n.req)
	var res network.HelperReply
	if err == nil {
		if err = json.Unmarshal(out, &res); err != nil {
			err = fmt.Errorf("network helper reply: %w", err)
			if derr := n.down(); derr != nil {
				err = fmt.Errorf("%w (and undoing the network: %v)", err, derr)
			}
			return err
		}
	}
	if err != nil {
		n.release()
		return err
	}
	if n.sw, err = network.OpenNetNSSwitch(filepath.Join(n.req.PodDir, stage1abi.NetNSFile)); err == nil && res.DNS != nil && n.resolv == "default" {
		err = n.writeResolvConf(res.DNS)
	}
	if err != nil {
		if derr := n.down(); derr != nil {
			err = fmt.Errorf("%w (and undoing the network: %v)", err, derr)
		}
		return err
	}
	return nil
}

// writeResolvConf writes the name servers a plugin returned where PID 1
// takes stage0's resolv.conf from (the stage1 rootfs's /etc), as rkt
// gave the apps a plugin's DNS when no --dns flag said otherwise.
func (n *podNet) writeResolvConf(d *network.DNS) error {
	conf := d.ResolvConf("# Generated by saturn from the pod's network\n")
	path := filepath.Join(n.req.PodDir, "stage1", "rootfs", "etc", "resolv.conf")
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	_, err = unix.Write(fd, []byte(conf))
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	n.resolvOK = true
	return nil
}

// podArgs are PID 1's arguments: the run entrypoint's, with resolv.conf
// taken from the stage1 rootfs when a plugin's DNS was written there.
func (n *podNet) podArgs(args []string) []string {
	if n == nil || !n.resolvOK {
		return args
	}
	return append(append([]string(nil), args...), "--dns-conf-mode=resolv=stage0,hosts="+n.hosts)
}

// forkIn runs fork, the ForkExec of the pod's PID 1, with the calling
// thread in the pod's network namespace, so that PID 1 starts in it,
// and brings the thread back to the host's right after.
//
// It runs on the thread forkPodInit locks for the pod's life
// (Pdeathsig ties PID 1 to the thread that forked it, so PID 1 must be
// forked from a thread that lives as long as the pod; on cgroup v1 that
// thread is also moved into the pod's stage1 cgroup), which runs nothing
// else meanwhile; the Go runtime starts new threads from a template
// thread, never by cloning a locked one, so no other goroutine ever runs
// in the pod's namespace. The thread comes back all the same, so that it
// holds no namespace of the pod's after PID 1. If the thread cannot come
// back, PID 1 is killed and the run fails: the thread must not start
// host-side work from the pod's namespace (the plugins run from other
// goroutines anyway).
func (n *podNet) forkIn(fork func() (int, error)) (int, error) {
	if n == nil {
		return fork()
	}
	if err := n.sw.Enter(); err != nil {
		return 0, err
	}
	pid, err := fork()
	if lerr := n.sw.Leave(); lerr != nil {
		if err == nil {
			unix.Kill(pid, unix.SIGKILL)
			reapPID(pid)
		}
		return 0, lerr
	}
	return pid, err
}

// down tears the pod's networks down once PID 1 is gone.
func (n *podNet) down() error {
	if n == nil {
		return nil
	}
	if n.sw != nil {
		n.sw.Close()
		n.sw = nil
	}
	_, err := runHelper(n.helper, "teardown", &network.HelperRequest{PodDir: n.req.PodDir, ContainerID: n.req.ContainerID})
	n.release()
	return err
}

// release closes the host port sockets and the helper.
func (n *podNet) release() {
	for _, fd := range n.ports {
		unix.Close(fd)
	}
	n.ports = nil
	if n.helper >= 0 {
		unix.Close(n.helper)
		n.helper = -1
	}
}

// teardownNetwork is the gc entrypoint's part: what the pod's networks
// left (after a killed run entrypoint or a reboot) is undone from the
// pod directory's records, with the plugin directories they name.
// The helper is the one beside this binary, which stage0 runs from
// stage1's tree in the store. A pod without network records or
// namespace (host or none) needs no helper.
func teardownNetwork(podDir, uuid string) error {
	_, rerr := os.Lstat(filepath.Join(podDir, stage1abi.NetRecordDir))
	_, nerr := os.Lstat(filepath.Join(podDir, stage1abi.NetNSFile))
	if errors.Is(rerr, os.ErrNotExist) && errors.Is(nerr, os.ErrNotExist) {
		return nil
	}
	fd, err := openHelper()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = runHelper(fd, "teardown", &network.HelperRequest{PodDir: podDir, ContainerID: uuid})
	return err
}

// appPort is a port an app's image declares.
type appPort struct {
	Name            string `json:"name"`
	Protocol        string `json:"protocol"`
	Port            int    `json:"port"`
	Count           int    `json:"count"`
	SocketActivated bool   `json:"socketActivated"`
}

// exposedPort is one of the pod manifest's ports (--port).
type exposedPort struct {
	Name     string `json:"name"`
	HostPort int    `json:"hostPort"`
	HostIP   string `json:"hostIP"`
}
