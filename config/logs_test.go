package config

import (
	"strings"
	"testing"
)

func TestLogsKind(t *testing.T) {
	sys := writeTree(t, map[string]string{"logs.d/l.json": `{"saturnKind":"logs","saturnVersion":"v1","app-logs":"journal"}`})
	local := writeTree(t, map[string]string{"logs.d/l.json": `{"saturnKind":"logs","saturnVersion":"v1","app-logs":"stdout"}`})
	c, err := Load(sys)
	if err != nil || c.Logs.AppLogs != "journal" {
		t.Fatalf("logs kind: %+v, %v; want journal", c.Logs, err)
	}
	if c, err = Load(sys, local); err != nil || c.Logs.AppLogs != "stdout" {
		t.Fatalf("local over system: %+v, %v; want stdout", c.Logs, err)
	}
	if c, err = Load(writeTree(t, nil)); err != nil || c.Logs.AppLogs != "" {
		t.Fatalf("no logs kind: %+v, %v", c.Logs, err)
	}
	for content, want := range map[string]string{
		`{"saturnKind":"logs","saturnVersion":"v1"}`:                       `"app-logs" is "", want one of auto, journal, stdout`,
		`{"saturnKind":"logs","saturnVersion":"v1","app-logs":"syslog"}`:   `"app-logs" is "syslog"`,
		`{"saturnKind":"logs","saturnVersion":"v1","app-logs":true}`:       `field "app-logs"`,
		`{"saturnKind":"store","saturnVersion":"v1","max-image-size":"1"}`: "does not belong in logs.d",
		`{"saturnKind":"logs","saturnVersion":"v1","app-logs":"auto"}`:     "",
	} {
		_, err := Load(writeTree(t, map[string]string{"logs.d/l.json": content}))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", content, err, want)
		}
	}
	two := writeTree(t, map[string]string{
		"logs.d/a.json": `{"saturnKind":"logs","saturnVersion":"v1","app-logs":"auto"}`,
		"logs.d/b.json": `{"saturnKind":"logs","saturnVersion":"v1","app-logs":"stdout"}`,
	})
	if _, err := Load(two); err == nil || !strings.Contains(err.Error(), "already set") {
		t.Errorf("two files setting app-logs: %v", err)
	}
	if e := (&Config{Logs: Logs{AppLogs: "journal"}}).Entries(); len(e) != 1 || e[0].(logsEntry).AppLogs != "journal" {
		t.Errorf("entries %+v", e)
	}
}
