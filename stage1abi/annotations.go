package stage1abi

// Annotations of a stage1 image manifest naming its entrypoints, paths
// below its rootfs. A stage1 need not have them all.
const (
	EntrypointRun    = "coreos.com/rkt/stage1/run"
	EntrypointEnter  = "coreos.com/rkt/stage1/enter"
	EntrypointGC     = "coreos.com/rkt/stage1/gc"
	EntrypointStop   = "coreos.com/rkt/stage1/stop"
	EntrypointAttach = "coreos.com/rkt/stage1/attach"
	// EntrypointUpdate and EntrypointStats are saturn's: a stage1
	// without them has no cgroups to change or read.
	EntrypointUpdate = "saturn-pods.org/stage1/update"
	EntrypointStats  = "saturn-pods.org/stage1/stats"
)

// AnnInterfaceVersion is the stage1 image annotation that says which
// version of the ABI its entrypoints speak (1 without it).
const AnnInterfaceVersion = "coreos.com/rkt/stage1/interface-version"

// Versions of the interface stage0 speaks, and the first version that
// knows each run flag; a stage1 is not passed flags its version lacks.
const (
	MaxInterfaceVersion = 5
	VersionHostname     = 2 // --hostname
	VersionDisable      = 3 // --disable-capabilities-restriction, --disable-paths, --disable-seccomp
	VersionDNSConfMode  = 4 // --dns-conf-mode
	VersionNetArgs      = 5 // --system-config, --net-out, --net-bandwidth
)

// Annotations a stage1 image may carry to say what it cannot honour, so
// that stage0 refuses such a pod before it exists instead of leaving an
// exited pod behind. rkt's stage1s carry none: then stage1 decides.
const (
	// AnnNetModes lists, comma-separated, the --net modes it accepts
	// (host, none, default for contained networks).
	AnnNetModes = "saturn-pods.org/stage1/net-modes"
	// AnnMaxApps is the most apps a pod may have (stage1-fly: 1).
	AnnMaxApps = "saturn-pods.org/stage1/max-apps"
	// AnnUnsupportedFlags lists, comma-separated, run flags it cannot
	// honour: "hostname", "ipc=private".
	AnnUnsupportedFlags = "saturn-pods.org/stage1/unsupported-flags"
	// AnnIsolators lists, comma-separated, the isolators it applies.
	// Others given by the operator are refused; resource isolators that
	// only the image asks for are ignored by the stage1, with a warning.
	AnnIsolators = "saturn-pods.org/stage1/isolators"
)

// Annotations of the pod manifest by which stage0 passes settings that
// have no run flag. A stage1 that does not know one ignores it.
const (
	// AnnCgroupParent is where the pod's cgroup goes (--cgroup-parent):
	// a systemd slice, or a cgroup path without systemd.
	AnnCgroupParent = "saturn-pods.org/cgroup-parent"
	// AnnAppLogs is where the apps' output goes (--app-logs): auto,
	// journal or stdout.
	AnnAppLogs = "saturn-pods.org/app-logs"
	// AnnMutable is rkt's mark of a pod whose apps cannot change.
	AnnMutable = "coreos.com/rkt/stage1/mutable"
)

// Runtime app annotations (in the pod manifest's apps) in which stage0
// records --stdin, --stdout and --stderr: null, tty, stream or log.
const (
	AnnStdin  = "coreos.com/rkt/stage2/stdin"
	AnnStdout = "coreos.com/rkt/stage2/stdout"
	AnnStderr = "coreos.com/rkt/stage2/stderr"
)

// Stdio modes of AnnStdin, AnnStdout and AnnStderr.
const (
	StdioNull   = "null"
	StdioTTY    = "tty"
	StdioStream = "stream"
	StdioLog    = "log"
)

// AnnSupportsNotify is the appc image annotation by which an image says
// its app speaks sd_notify: it has started once it says READY=1.
const AnnSupportsNotify = "appc.io/executor/supports-systemd-notify"

// ReservedAnnotationPrefixes are the name spaces of the annotations
// above: a user's --annotation may not set them.
var ReservedAnnotationPrefixes = []string{"coreos.com/rkt/", "saturn-pods.org/"}
