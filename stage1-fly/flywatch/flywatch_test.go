package flywatch

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// procEvent builds a netlink datagram carrying one proc connector event,
// laid out as the kernel sends it.
func procEvent(what uint32, pid, tgid int, status uint32) []byte {
	ne := binary.NativeEndian
	payload := make([]byte, cnMsgLen+16+24)
	ev := payload[cnMsgLen:]
	ne.PutUint32(ev[0:], what)
	ne.PutUint32(ev[16:], uint32(pid))
	ne.PutUint32(ev[20:], uint32(tgid))
	ne.PutUint32(ev[24:], status)
	msg := make([]byte, unix.SizeofNlMsghdr+len(payload))
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.NLMSG_DONE)
	copy(msg[unix.SizeofNlMsghdr:], payload)
	return msg
}

func exitOf(pid, tgid int, status uint32) []byte { return procEvent(procEventExit, pid, tgid, status) }

func TestExitState(t *testing.T) {
	tests := []struct {
		name       string
		datagrams  [][]byte
		wantCode   int
		wantExited bool
	}{
		{"exit 0", [][]byte{exitOf(42, 42, 0)}, 0, true},
		{"exit 7", [][]byte{exitOf(42, 42, 7<<8)}, 7, true},
		{"killed by SIGKILL", [][]byte{exitOf(42, 42, 9)}, 137, true},
		{"SIGSEGV with core", [][]byte{exitOf(42, 42, 11|0x80)}, 139, true},
		{"another thread of the process", [][]byte{exitOf(43, 42, 0)}, 0, false},
		{"another process", [][]byte{exitOf(41, 41, 0)}, 0, false},
		{"truncated", [][]byte{exitOf(42, 42, 0)[:unix.SizeofNlMsghdr+10]}, 0, false},
		{"garbage", [][]byte{{1, 2, 3}}, 0, false},
		{"two messages in a datagram, last counts", [][]byte{append(exitOf(42, 42, 9), exitOf(42, 42, 3<<8)...)}, 3, true},
		{"old leader replaced by an exec from another thread", [][]byte{exitOf(42, 42, 9), procEvent(procEventExec, 42, 42, 0)}, 0, false},
		{"then the real exit", [][]byte{exitOf(42, 42, 9), procEvent(procEventExec, 42, 42, 0), exitOf(42, 42, 5<<8)}, 5, true},
		{"another process's exec", [][]byte{exitOf(42, 42, 2<<8), procEvent(procEventExec, 50, 50, 0)}, 2, true},
	}
	for _, tc := range tests {
		st := exitState{pid: 42}
		for _, d := range tc.datagrams {
			st.apply(d)
		}
		if st.exited != tc.wantExited || (st.exited && st.code != tc.wantCode) {
			t.Errorf("%s: got exited=%v code=%d, want %v %d", tc.name, st.exited, st.code, tc.wantExited, tc.wantCode)
		}
	}
}
