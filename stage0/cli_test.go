package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestFindCommandFlagsBefore(t *testing.T) {
	cmds := commandTable(newGlobals(nil, nil))
	tests := []struct {
		args      []string
		cmd, pre  string
		rest      string
		global    string
		ownBefore string
	}{
		{[]string{"--net=host", "run", "img"}, "run", "--net=host", "img", "", "--net=host"},
		{[]string{"--dir", "/d", "--set-env", "A=B", "run", "img"}, "run", "--dir /d | --set-env A=B", "img", "--dir /d", "--set-env A=B"},
		{[]string{"--debug", "image", "list", "--full"}, "image list", "--debug", "--full", "--debug", ""},
		// A flag of unknown arity before a command word takes no value.
		{[]string{"--no-legend", "list"}, "list", "--no-legend", "", "", "--no-legend"},
		{[]string{"--insecure-options", "image", "fetch", "x"}, "fetch", "--insecure-options image", "x", "--insecure-options image", ""},
	}
	for _, tt := range tests {
		cmd, pre, rest := findCommand(cmds, tt.args)
		if cmd == nil || cmd.name != tt.cmd {
			t.Errorf("%q: command %v, want %s", tt.args, cmd, tt.cmd)
			continue
		}
		var groups []string
		for _, g := range pre {
			groups = append(groups, strings.Join(g, " "))
		}
		if got := strings.Join(groups, " | "); got != tt.pre {
			t.Errorf("%q: flags before %q, want %q", tt.args, got, tt.pre)
		}
		if got := strings.Join(rest, " "); got != tt.rest {
			t.Errorf("%q: rest %q, want %q", tt.args, got, tt.rest)
		}
		global, own := splitGlobalFlags(pre)
		if strings.Join(global, " ") != tt.global || strings.Join(own, " ") != tt.ownBefore {
			t.Errorf("%q: global %q own %q, want %q and %q", tt.args, global, own, tt.global, tt.ownBefore)
		}
	}
}

func TestNoCommand(t *testing.T) {
	for _, tt := range []struct {
		args       []string
		code       int
		out, errs  string
		notInWords string
	}{
		{nil, exitUsage, "Commands:", "missing command", ""},
		{[]string{"--help"}, exitOK, "Commands:", "", ""},
		{[]string{"--version"}, exitOK, "Features: ", "", ""},
		{[]string{"image", "--help"}, exitOK, "image list", "", "image fetch"},
		{[]string{"bogus", "--x"}, exitUsage, "", `unknown command "bogus"`, ""},
	} {
		var out, errs bytes.Buffer
		code := runCLI(tt.args, &out, &errs)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errs.String(), tt.errs) ||
			tt.notInWords != "" && strings.Contains(out.String(), tt.notInWords) {
			t.Errorf("saturn %q: exit %d\nstdout: %s\nstderr: %s", tt.args, code, out.String(), errs.String())
		}
	}
}
