package seccomp

// The named groups of rkt's seccomp isolators. Their members are names of
// every architecture rkt knew; resolving a group for the host keeps the
// members the host has and skips the others (chown32 is i386's), as
// systemd did when it built rkt's filters. A name given on its own must
// exist on the host.

// dockerWhitelist is @docker/default-whitelist, and @rkt/default-whitelist
// (rkt's default filter): the syscalls of Docker's 2016 default profile,
// as rkt's stage1 lists them. clone and personality are argument-filtered
// by Docker and allowed whole by rkt.
var dockerWhitelist = []string{
	"accept", "accept4", "access", "alarm", "bind", "brk", "capget", "capset",
	"chdir", "chmod", "chown", "chown32", "clock_getres", "clock_gettime",
	"clock_nanosleep", "close", "connect", "copy_file_range", "creat", "dup",
	"dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve",
	"execveat", "exit", "exit_group", "faccessat", "fadvise64", "fadvise64_64",
	"fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
	"fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr",
	"flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64",
	"fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
	"futex", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
	"getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
	"getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
	"getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid",
	"getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid",
	"getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
	"getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
	"inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
	"io_getevents", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc",
	"kill", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
	"listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr",
	"lstat", "lstat64", "madvise", "memfd_create", "mincore", "mkdir", "mkdirat",
	"mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
	"mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend",
	"mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync",
	"munlock", "munlockall", "munmap", "nanosleep", "newfstatat", "_newselect",
	"open", "openat", "pause", "personality", "pipe", "pipe2", "poll", "ppoll",
	"prctl", "pread64", "preadv", "prlimit64", "pselect6", "pwrite64", "pwritev",
	"read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
	"recvmmsg", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
	"renameat2", "restart_syscall", "rmdir", "rt_sigaction", "rt_sigpending",
	"rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
	"rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
	"sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity",
	"sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
	"seccomp", "select", "semctl", "semget", "semop", "semtimedop", "send",
	"sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid",
	"setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
	"setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
	"setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
	"setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt",
	"set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
	"shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
	"signalfd4", "sigreturn", "socket", "socketcall", "socketpair", "splice",
	"stat", "stat64", "statfs", "statfs64", "symlink", "symlinkat", "sync",
	"sync_file_range", "syncfs", "sysinfo", "syslog", "tee", "tgkill", "time",
	"timer_create", "timer_delete", "timerfd_create", "timerfd_gettime",
	"timerfd_settime", "timer_getoverrun", "timer_gettime", "timer_settime",
	"times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname",
	"unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork", "vmsplice",
	"wait4", "waitid", "waitpid", "write", "writev", "arch_prctl", "modify_ldt",
	"chroot", "clone",
}

// armWhitelist is what rkt adds to its default whitelist on arm and arm64.
var armWhitelist = []string{
	"arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush",
	"set_tls", "sync_file_range2",
}

// dockerBlacklist is @docker/default-blacklist and @rkt/default-blacklist:
// what Docker's 2016 profile refuses.
var dockerBlacklist = []string{
	"acct", "add_key", "adjtimex", "bpf", "clock_adjtime", "clock_settime",
	"create_module", "delete_module", "finit_module", "get_kernel_syms",
	"get_mempolicy", "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load",
	"kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount", "move_pages",
	"name_to_handle_at", "nfsservctl", "open_by_handle_at", "perf_event_open",
	"pivot_root", "process_vm_readv", "process_vm_writev", "ptrace",
	"query_module", "quotactl", "reboot", "request_key", "set_mempolicy", "setns",
	"settimeofday", "stime", "swapon", "swapoff", "sysfs", "_sysctl", "umount",
	"umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
}

// newerUnprivileged are the system calls Linux gained after rkt's list
// was written (4.6 and later) that need no privilege and that today's
// libcs and runtimes call, often at start-up (rseq, statx, clone3's
// fallbacks...). Without them saturn's default filter would break
// ordinary programs. The privileged and risky newcomers stay out: the
// new mount API (fsopen, open_tree, move_mount, mount_setattr, listmount,
// statmount...), io_uring, pidfd_getfd, process_madvise, memfd_secret,
// quotactl_fd. clone3 is handled apart (see Filter).
var newerUnprivileged = []string{
	"membarrier", "preadv2", "pwritev2", "pkey_mprotect", "pkey_alloc",
	"pkey_free", "statx", "io_pgetevents", "rseq", "pidfd_send_signal",
	"pidfd_open", "openat2", "close_range", "faccessat2", "epoll_pwait2",
	"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
	"futex_waitv", "cachestat", "fchmodat2", "map_shadow_stack", "futex_wake",
	"futex_wait", "futex_requeue", "mseal", "setxattrat", "getxattrat",
	"listxattrat", "removexattrat", "file_getattr", "file_setattr",
}

// systemdGroup returns the members of the @systemd/ group rkt passes to
// its stage1's systemd as name (rkt calls systemd's @default
// default-whitelist), as systemd v233 defines them. Other @systemd/ names
// were ignored by rkt and are refused here. A switch rather than a map:
// a map literal would be built at start-up by every process importing
// the package.
func systemdGroup(name string) ([][]string, bool) {
	switch name {
	case "clock":
		return [][]string{systemdClock}, true
	case "default-whitelist":
		return [][]string{systemdDefault}, true
	case "mount":
		return [][]string{{"chroot", "mount", "pivot_root", "umount2", "umount"}}, true
	case "network-io":
		return [][]string{systemdNetworkIO}, true
	case "obsolete":
		return [][]string{systemdObsolete}, true
	case "privileged":
		return [][]string{systemdClock, systemdModule, systemdRawIO, systemdPrivileged}, true
	case "process":
		return [][]string{systemdProcess}, true
	case "raw-io":
		return [][]string{systemdRawIO}, true
	}
	return nil, false
}

var (
	systemdClock  = []string{"adjtimex", "clock_adjtime", "clock_settime", "settimeofday", "stime"}
	systemdModule = []string{"delete_module", "finit_module", "init_module"}
	systemdRawIO  = []string{"ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write"}

	// systemdDefault is also what every retain set allows, as systemd
	// added @default to each whitelist of rkt's apps: the calls an app
	// cannot start, sleep or end without.
	systemdDefault = []string{
		"clock_getres", "clock_gettime", "clock_nanosleep", "execve", "exit",
		"exit_group", "getrlimit", "gettimeofday", "nanosleep", "pause",
		"rt_sigreturn", "sigreturn", "time",
	}
	systemdNetworkIO = []string{
		"accept4", "accept", "bind", "connect", "getpeername", "getsockname",
		"getsockopt", "listen", "recv", "recvfrom", "recvmmsg", "recvmsg", "send",
		"sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown", "socket",
		"socketcall", "socketpair",
	}
	systemdObsolete = []string{
		"_sysctl", "afs_syscall", "bdflush", "break", "create_module", "ftime",
		"get_kernel_syms", "getpmsg", "gtty", "lock", "mpx", "prof", "profil",
		"putpmsg", "query_module", "security", "sgetmask", "ssetmask", "stty",
		"sysfs", "tuxcall", "ulimit", "uselib", "ustat", "vserver",
	}
	systemdPrivileged = []string{
		"acct", "bpf", "capset", "chown32", "chown", "chroot", "fchown32", "fchown",
		"fchownat", "kexec_file_load", "kexec_load", "lchown32", "lchown",
		"nfsservctl", "pivot_root", "quotactl", "reboot", "setdomainname",
		"setfsuid32", "setfsuid", "setgroups32", "setgroups", "sethostname",
		"setresuid32", "setresuid", "setreuid32", "setreuid", "setuid32", "setuid",
		"swapoff", "swapon", "_sysctl", "vhangup",
	}
	systemdProcess = []string{
		"arch_prctl", "clone", "execveat", "fork", "kill", "prctl", "setns",
		"tgkill", "tkill", "unshare", "vfork",
	}
)

// capabilitySyscalls are the system calls that only a capability makes
// useful, by capability number (linux/capability.h), as Docker's default
// profile adds them when a container is granted the capability. The
// default filter allows them to an app whose bounding set holds it, so a
// capability the operator grants works; an image cannot grant itself
// capabilities beyond the default set (see package grant).
func capabilitySyscalls(c int) []string {
	switch c {
	case 21: // CAP_SYS_ADMIN
		return []string{"bpf", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
			"lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at",
			"open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
			"sethostname", "setns", "syslog", "umount", "umount2", "unshare"}
	case 22: // CAP_SYS_BOOT
		return []string{"reboot"}
	case 16: // CAP_SYS_MODULE
		return []string{"delete_module", "init_module", "finit_module"}
	case 20: // CAP_SYS_PACCT
		return []string{"acct"}
	case 19: // CAP_SYS_PTRACE
		return []string{"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"}
	case 17: // CAP_SYS_RAWIO
		return []string{"iopl", "ioperm"}
	case 25: // CAP_SYS_TIME
		return []string{"settimeofday", "stime", "clock_settime", "clock_adjtime", "adjtimex"}
	case 26: // CAP_SYS_TTY_CONFIG
		return []string{"vhangup"}
	case 23: // CAP_SYS_NICE
		return []string{"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}
	case 34: // CAP_SYSLOG
		return []string{"syslog"}
	case 39: // CAP_BPF
		return []string{"bpf"}
	case 38: // CAP_PERFMON
		return []string{"perf_event_open"}
	}
	return nil
}
