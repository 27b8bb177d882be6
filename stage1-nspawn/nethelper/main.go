// Command nethelper is stage1-nspawn's network helper, /net in the stage1
// image: "net setup" makes the pod's network namespace and joins its CNI
// networks, "net teardown" undoes what the pod directory records, each
// given a network.HelperRequest on stdin. It is a binary of its own so
// that the stage1 binary, two processes of every pod start, does not
// link libcni and what it brings (package initialisation, a larger
// binary to page in); only pods with contained networks pay for it.
// A failure is one line on stderr and exit status 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/saturn-pods/saturn/network"
	"github.com/saturn-pods/saturn/network/cni"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "setup" && args[0] != "teardown") {
		return fmt.Errorf("usage: net setup|teardown < request")
	}
	var req network.HelperRequest
	if err := json.NewDecoder(stdin).Decode(&req); err != nil {
		return fmt.Errorf("network helper request: %w", err)
	}
	if req.PodDir == "" || req.ContainerID == "" {
		return fmt.Errorf("network helper request: no pod directory or container id")
	}
	ctx := context.Background()
	if args[0] == "teardown" {
		p := &cni.Pod{Dir: req.PodDir, ContainerID: req.ContainerID}
		return p.Teardown(ctx)
	}
	reply, err := setup(ctx, &req)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(reply)
}

// setup checks the networks (known, plugins there) before anything
// exists, then joins them; on failure everything is undone.
func setup(ctx context.Context, req *network.HelperRequest) (*network.HelperReply, error) {
	mode, reqs, err := network.ParseNetFlag(req.Net)
	if err != nil {
		return nil, err
	}
	if mode != "contained" {
		return nil, fmt.Errorf("--net=%s: not a contained network", mode)
	}
	opts := cni.Options{Ports: req.Ports, Bandwidth: req.Bandwidth}
	for _, s := range req.NetOut {
		r, err := network.ParseOutRule(s)
		if err != nil {
			return nil, err
		}
		opts.NetOut = append(opts.NetOut, r)
	}
	cat, err := cni.LoadCatalog(cni.ConfDirs(req.LocalConfig, req.SystemConfig))
	if err != nil {
		return nil, err
	}
	atts, err := cat.Resolve(reqs)
	if err != nil {
		return nil, err
	}
	p := &cni.Pod{Dir: req.PodDir, ContainerID: req.ContainerID, PluginDirs: cni.PluginDirs(req.SystemConfig)}
	if err := p.Prepare(atts, opts); err != nil {
		return nil, err
	}
	res, err := p.Setup(ctx, atts, opts)
	if err != nil {
		return nil, err
	}
	return &network.HelperReply{DNS: res.DNS}, nil
}
