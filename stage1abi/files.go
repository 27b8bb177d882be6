package stage1abi

import "path"

// Files and directories stage0 writes in the pod directory before it
// execs stage1.
const (
	// PodManifest is the pod manifest (appc PodManifest JSON).
	PodManifest = "pod"
	// PodCreated is empty; its mtime is when the pod finished preparing.
	PodCreated = "pod-created"
	// Stage1TreeID names the tree stage1's rootfs was rendered from.
	Stage1TreeID = "stage1TreeStoreID"
	// OverlayPrepared is present when the rootfs are overlay mounts
	// (made when the pod starts), absent for copies.
	OverlayPrepared = "overlay-prepared"
	// AppsInfoDir holds, per app, TreeIDFile and ImageManifest.
	AppsInfoDir = "appsinfo"
	// OverlayDir holds the overlays' upper and work directories, per
	// tree: overlay/<tree>/{upper,work}[/<app>].
	OverlayDir = "overlay"
	// Stage1Dir holds stage1's ImageManifest and its RootfsDir.
	Stage1Dir = "stage1"
	// Stage1Rootfs is stage1's rootfs, relative to the pod directory.
	Stage1Rootfs = "stage1/rootfs"
	// Stage2Dir, below stage1's rootfs, holds a directory per app with
	// its ImageManifest and its RootfsDir.
	Stage2Dir = "opt/stage2"
	// TreeIDFile names the tree an app was rendered from.
	TreeIDFile = "treeStoreID"
	// ImageManifest is an image's manifest beside its rootfs.
	ImageManifest = "manifest"
	// RootfsDir is a rootfs beside its image manifest.
	RootfsDir = "rootfs"
)

// Files stage1 writes in the pod directory.
const (
	// PidFile holds the host pid of the process enter targets, written
	// once it exists (WritePid).
	PidFile = "pid"
	// PpidFile is PidFile's older name, which rkt's stage1s may write.
	PpidFile = "ppid"
	// PidStartTimeFile holds the start time of PidFile's process (field
	// 22 of /proc/PID/stat): with the pid it names that one process for
	// the life of the system (stage1-nspawn).
	PidStartTimeFile = "pid-starttime"
	// NetInfoFile is rkt's list of the pod's networks (NetInfo), kept
	// after they are torn down.
	NetInfoFile = "net-info.json"
	// NetNSFile pins the pod's network namespace (stage1-nspawn).
	NetNSFile = "netns"
	// NetRecordDir holds what gc needs to tear the networks down.
	NetRecordDir = "net"
	// SharedVolumesDir holds the backing directory of each empty volume.
	SharedVolumesDir = "sharedVolumes"
	// SubcgroupFile names the pod's cgroup (stage1-nspawn).
	SubcgroupFile = "subcgroup"
)

// Files stage1 writes below its rootfs, relative to it. Apps that escape
// their root land there and can write them: readers on the host use the
// hardened readers of this package.
const (
	// RktDir holds the rest.
	RktDir = "rkt"
	// EnvDir holds each app's environment, KEY=VALUE lines (WriteEnv).
	EnvDir = "rkt/env"
	// StatusDir holds each app's exit status once it exited
	// (WriteAppStatus).
	StatusDir = "rkt/status"
	// SupervisorStatus says "ready" once every app started.
	SupervisorStatus = "rkt/supervisor-status"
	// EnterSocket is the supervisor's enter socket (stage1-nspawn).
	EnterSocket = "rkt/enter.sock"
	// IOTTYMuxDir holds, per app, the endpoints file of its attachable
	// streams, as rkt's iottymux.
	IOTTYMuxDir = "rkt/iottymux"
	// OOMKillsDir holds, per app, how many of its processes the kernel
	// killed for lack of memory (stage1-nspawn).
	OOMKillsDir = "rkt/oom-kills"
	// FlyWatcher holds the pid of stage1-fly's exit watcher.
	FlyWatcher = "rkt/fly-watcher"
)

// AppDir is the directory of app below stage1's rootfs.
func AppDir(app string) string { return path.Join(Stage2Dir, app) }

// AppRootfs is the rootfs of app below stage1's rootfs.
func AppRootfs(app string) string { return path.Join(Stage2Dir, app, RootfsDir) }

// StatusFile is app's exit status file below stage1's rootfs.
func StatusFile(app string) string { return path.Join(StatusDir, app) }

// EnvFile is app's environment file below stage1's rootfs.
func EnvFile(app string) string { return path.Join(EnvDir, app) }
