package pod

import (
	"os"
	"path/filepath"

	"github.com/saturn-pods/saturn/stage1abi"
)

// TreeIDs lists the store trees the pod's stage1 and apps were laid out
// from (stage1TreeStoreID, appsinfo/*/treeStoreID), so that a command
// removing images can tell which ones the pod still needs.
func (p *Pod) TreeIDs() []string {
	var ids []string
	if id, err := stage1abi.ReadValue(filepath.Join(p.Path(), stage1abi.Stage1TreeID)); err == nil && id != "" {
		ids = append(ids, id)
	}
	apps, err := os.ReadDir(filepath.Join(p.Path(), stage1abi.AppsInfoDir))
	if err != nil {
		return ids
	}
	for _, a := range apps {
		if id, err := stage1abi.ReadValue(filepath.Join(p.Path(), stage1abi.AppsInfoDir, a.Name(), stage1abi.TreeIDFile)); err == nil && id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}
