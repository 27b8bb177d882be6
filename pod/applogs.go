package pod

import (
	"fmt"
	"slices"
	"strings"

	"github.com/appc/spec/schema"

	"github.com/saturn-pods/saturn/config"
	"github.com/saturn-pods/saturn/stage1abi"
)

// checkAppLogs refuses an --app-logs value stage1 would not know.
func checkAppLogs(mode string) error {
	if mode != "" && !slices.Contains(config.AppLogsModes, mode) {
		return fmt.Errorf("invalid --app-logs %q (want %s)", mode, strings.Join(config.AppLogsModes, ", "))
	}
	return nil
}

// SetAppLogs records in pm where its apps' output goes: flag (--app-logs)
// when given, else configured (logs.d) unless pm already says (a
// --pod-manifest that carries the annotation), else nothing, which
// stage1 takes as auto.
func SetAppLogs(pm *schema.PodManifest, flag, configured string) {
	_, has := pm.Annotations.Get(stage1abi.AnnAppLogs)
	switch {
	case flag != "":
		pm.Annotations.Set(stage1abi.AnnAppLogs, flag)
	case configured != "" && !has:
		pm.Annotations.Set(stage1abi.AnnAppLogs, configured)
	}
}
