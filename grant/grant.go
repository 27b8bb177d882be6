// Package grant decides what an image may grant itself. The operator
// grants privileges (command-line flags, a pod manifest they wrote,
// --insecure-options); an image's own manifest may only narrow what its
// app gets. Check finds the isolators of an image's app that would widen
// the confinement a pod gives by default, and Policy says which of them
// the operator allowed. stage0 refuses a pod with any other before the
// pod exists.
//
// The judgement of each isolator kind is one entry of rules: a new
// isolator that saturn enforces gets its rule there.
package grant

import (
	"fmt"
	"strings"

	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/seccomp"
	"github.com/saturn-pods/saturn/stage2"
	"github.com/saturn-pods/saturn/stage2/launch"
)

// TrustFlag is the run/prepare flag with which the operator lets images
// whose signature is trusted widen their own confinement.
const TrustFlag = "--trust-image-isolators"

// Widening is one isolator of an image that asks for more than a pod
// gets by default.
type Widening struct {
	// Isolator is the isolator's name.
	Isolator types.ACIdentifier
	// Why says what it would grant, e.g. "retains CAP_SYS_ADMIN beyond
	// the default capability set".
	Why string
	// Flag is how the operator grants the same: a per-app flag
	// ("--caps-retain") or "--pod-manifest".
	Flag string
	// Insecure is the --insecure-options value that switches the
	// restriction off for every app anyway ("capabilities"), so that an
	// image asking for it gains nothing more; "" if none does.
	Insecure string
}

// A rule judges one isolator of an image: it returns why the isolator
// widens the app's confinement, or "" when it only narrows it or changes
// nothing saturn enforces.
type rule struct {
	judge    func(iso *types.Isolator) string
	flag     string
	insecure string
}

// defaultCPUShares is the kernel's cpu.shares (and cgroup v2 weight
// equivalent) of a cgroup nobody configured.
const defaultCPUShares = 1024

// rules are the isolators an image may carry, each with its judgement.
// An isolator not listed here is refused from images: saturn cannot tell
// what a stage1 would make of it.
var rules = map[types.ACIdentifier]rule{
	types.LinuxCapabilitiesRetainSetName: {judge: judgeRetainCaps, flag: "--caps-retain", insecure: "capabilities"},
	// Removing capabilities only narrows.
	types.LinuxCapabilitiesRevokeSetName: {judge: narrows},
	// no-new-privileges: true narrows, false is the default.
	types.LinuxNoNewPrivilegesName: {judge: narrows},
	types.LinuxOOMScoreAdjName:     {judge: judgeOOMScoreAdj, flag: "--oom-score-adjust"},
	types.LinuxCPUSharesName:       {judge: judgeCPUShares, flag: "--cpu-shares"},
	// Limits only narrow. Requests are not enforced: should a stage1
	// turn them into guarantees (memory.min, cpu reservations), they
	// need a rule, as they take from the host.
	types.ResourceMemoryName:           {judge: narrows},
	types.ResourceCPUName:              {judge: narrows},
	types.ResourceBlockBandwidthName:   {judge: narrows},
	types.ResourceBlockIOPSName:        {judge: narrows},
	types.ResourceNetworkBandwidthName: {judge: narrows},
	types.LinuxSELinuxContextName:      {judge: widens("chooses the app's SELinux context, which may be an unconfined one")},
	types.UnixSysctlName:               {judge: widens("sets kernel parameters, some of which are the host's")},
	types.LinuxSeccompRetainSetName:    {judge: judgeSeccompRetain, flag: "--seccomp", insecure: "seccomp"},
	// An image's remove set narrows saturn's default filter: stage0
	// writes it into the pod as the default filter less the set (see
	// seccomp.DefaultWithout), never as a blacklist.
	types.LinuxSeccompRemoveSetName: {judge: narrows, flag: "--seccomp", insecure: "seccomp"},
}

// Check returns the isolators among isolators, an image's app's, that
// widen its confinement, in manifest order.
func Check(isolators types.Isolators) []Widening {
	var out []Widening
	for i := range isolators {
		iso := &isolators[i]
		r, ok := rules[iso.Name]
		if !ok {
			out = append(out, Widening{Isolator: iso.Name, Why: "is one saturn cannot judge, so it may grant anything", Flag: "--pod-manifest"})
			continue
		}
		if why := r.judge(iso); why != "" {
			flag := r.flag
			if flag == "" {
				flag = "--pod-manifest"
			}
			out = append(out, Widening{Isolator: iso.Name, Why: why, Flag: flag, Insecure: r.insecure})
		}
	}
	return out
}

func narrows(*types.Isolator) string { return "" }

// widens is the judgement of an isolator that widens whatever its value.
func widens(why string) func(*types.Isolator) string {
	return func(*types.Isolator) string { return why }
}

// judgeRetainCaps refuses capabilities outside launch.DefaultCaps, the
// bounding set an app gets without isolators. A retain set within it
// narrows (or keeps) the set, and for a non-root app raises only
// capabilities root in the pod has anyway.
func judgeRetainCaps(iso *types.Isolator) string {
	v, ok := iso.Value().(*types.LinuxCapabilitiesRetainSet)
	if !ok {
		return "has a value saturn cannot read"
	}
	def := make(map[launch.Cap]bool, len(launch.DefaultCaps))
	for _, c := range launch.DefaultCaps {
		def[c] = true
	}
	var extra []string
	for _, name := range v.Set() {
		c, err := launch.ParseCap(string(name))
		if err != nil || !def[c] {
			extra = append(extra, string(name))
		}
	}
	if len(extra) == 0 {
		return ""
	}
	return "retains " + clip.String(strings.Join(extra, ",")) + " beyond the default capability set"
}

// judgeSeccompRetain refuses a retain set that lets through a system
// call saturn's default filter refuses, or none at all (@appc.io/all). A
// set saturn cannot resolve is left to stage0's check of the app, which
// names what is wrong with it.
func judgeSeccompRetain(iso *types.Isolator) string {
	v, ok := iso.Value().(types.LinuxSeccompSet)
	if !ok {
		return "has a value saturn cannot read"
	}
	names, errno := stage2.SeccompSet(v)
	f, err := seccomp.New(seccomp.Retain, names, errno)
	if err != nil {
		return ""
	}
	if f == nil {
		return "turns the seccomp filter off (@appc.io/all)"
	}
	if extra := seccomp.Widens(f); len(extra) > 0 {
		return "allows " + clip.String(strings.Join(extra, ",")) + " beyond saturn's default seccomp filter"
	}
	return ""
}

// judgeOOMScoreAdj refuses a negative adjustment: it would make the
// host's own processes the OOM killer's choice before the pod's.
func judgeOOMScoreAdj(iso *types.Isolator) string {
	v, ok := iso.Value().(*types.LinuxOOMScoreAdj)
	if !ok {
		return "has a value saturn cannot read"
	}
	if *v < 0 {
		return fmt.Sprintf("lowers the app's OOM score by %d, at the host's expense", -int(*v))
	}
	return ""
}

// judgeCPUShares refuses a weight above the default: it would give the
// pod the CPU before the host's services under contention.
func judgeCPUShares(iso *types.Isolator) string {
	v, ok := iso.Value().(*types.LinuxCPUShares)
	if !ok {
		return "has a value saturn cannot read"
	}
	if *v > defaultCPUShares {
		return fmt.Sprintf("raises the app's CPU weight to %d, above the default %d", int(*v), defaultCPUShares)
	}
	return ""
}

// Policy is what the operator allowed images to grant themselves. The
// zero Policy (and a nil one) allows nothing that widens.
type Policy struct {
	// Insecure reports whether an --insecure-options value is in force;
	// nil for none.
	Insecure func(option string) bool
	// TrustSigned is TrustFlag: an image whose signature is trusted
	// keeps its widening isolators.
	TrustSigned bool
	// Trusted returns nil when the stored signature of the image id is
	// verified by a key trusted for its name now, else why not.
	Trusted func(id string) error
}

// Image returns an *Error for the first of isolators, those the image
// named image (id) brings to its app, that widens its confinement
// without p allowing it.
func (p *Policy) Image(image, id string, isolators types.Isolators) error {
	ws := Check(isolators)
	if p != nil && p.Insecure != nil {
		kept := ws[:0]
		for _, w := range ws {
			if w.Insecure == "" || !p.Insecure(w.Insecure) {
				kept = append(kept, w)
			}
		}
		ws = kept
	}
	if len(ws) == 0 {
		return nil
	}
	e := &Error{Image: image, Widening: ws[0]}
	if p == nil || !p.TrustSigned {
		return e
	}
	if p.Trusted == nil {
		e.Untrusted = "no signature can be checked"
		return e
	}
	if err := p.Trusted(id); err != nil {
		e.Untrusted = err.Error()
		return e
	}
	return nil
}

// Error is a pod refused because an image would widen its own
// confinement.
type Error struct {
	Image string
	Widening
	// Untrusted is why TrustFlag, given, did not allow it; "" when the
	// flag was not given.
	Untrusted string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("image %s: isolator %s %s; an image cannot grant itself that: give %s", clip.String(e.Image), clip.String(e.Isolator.String()), e.Why, e.Flag)
	if e.Untrusted != "" {
		return msg + " (" + TrustFlag + " needs a trusted signature: " + e.Untrusted + ")"
	}
	return msg + ", or " + TrustFlag + " if the image is signed by a key you trust"
}
