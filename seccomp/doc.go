// Package seccomp builds the seccomp filters of saturn's apps: rkt's
// isolators os/linux/seccomp-retain-set and -remove-set with rkt's named
// groups, resolved for the host architecture, saturn's default filter,
// and the BPF program each turns into.
//
// The package is appc-free and costs nothing at start-up: its syscall
// tables are sorted arrays of constants generated from
// golang.org/x/sys/unix (see internal/mktable), and its programs are
// assembled with golang.org/x/net/bpf. stage1-nspawn imports it in every
// one of its short-lived processes.
package seccomp

//go:generate go run ./internal/mktable
