// Package etcfiles is what a stage1 puts in an app's /etc, as rkt's
// stage1s did: /etc/hosts with the pod's hostname on the localhost line,
// /etc/hostname, /etc/mtab. Both stage1s use it, so an image finds the
// same files under either.
package etcfiles

import (
	"bytes"
	"strings"
)

// MtabTarget is where /etc/mtab points, relative to /etc, when the image
// has no mtab of its own: tools such as util-linux's mount read the mount
// table there.
const MtabTarget = "../proc/self/mounts"

// FallbackHosts is the /etc/hosts of an app whose image has none (and of
// a pod that asks for no other): the localhost names, with the pod's
// hostname on the IPv4 localhost line as rkt wrote it.
func FallbackHosts(hostname string) []byte {
	return []byte("127.0.0.1 localhost localhost.localdomain localhost4 localhost4.localdomain4 " + hostname + "\n" +
		"::1 localhost localhost.localdomain localhost6 localhost6.localdomain6\n")
}

// WithHostname returns hosts with hostname added to its first 127.0.0.1
// line, or on a line of its own when there is none, as rkt's stage1 did
// to the hosts file stage0 wrote. A hosts file that names hostname on
// such a line already is returned as it is.
func WithHostname(hosts []byte, hostname string) []byte {
	lines := strings.SplitAfter(string(hosts), "\n")
	for i, l := range lines {
		f := strings.Fields(strings.SplitN(l, "#", 2)[0])
		if len(f) == 0 || f[0] != "127.0.0.1" {
			continue
		}
		for _, name := range f[1:] {
			if name == hostname {
				return hosts
			}
		}
		body, nl := strings.CutSuffix(l, "\n")
		lines[i] = body + " " + hostname
		if nl {
			lines[i] += "\n"
		}
		return []byte(strings.Join(lines, ""))
	}
	out := bytes.Clone(hosts)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, "127.0.0.1 "+hostname+"\n"...)
}
