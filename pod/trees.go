package pod

import (
	"os"
	"path/filepath"
)

// TreeIDs lists the store trees the pod's stage1 and apps were laid out
// from (stage1TreeStoreID, appsinfo/*/treeStoreID), so that a command
// removing images can tell which ones the pod still needs.
func (p *Pod) TreeIDs() []string {
	var ids []string
	if id, err := readTrimmed(filepath.Join(p.Path(), fileStage1TreeID)); err == nil && id != "" {
		ids = append(ids, id)
	}
	apps, err := os.ReadDir(filepath.Join(p.Path(), dirAppsInfo))
	if err != nil {
		return ids
	}
	for _, a := range apps {
		if id, err := readTrimmed(filepath.Join(p.Path(), dirAppsInfo, a.Name(), treeIDFile)); err == nil && id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}
