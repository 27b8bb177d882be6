package pod

import (
	"fmt"
	"strings"
	"sync"

	"github.com/appc/spec/schema"
)

// Images is what preparing a pod needs from the image store.
type Images interface {
	ImageManifests
	// RenderTree renders an image with its dependencies once and returns
	// the tree's id and directory (holding manifest and rootfs/).
	RenderTree(id string) (treeID, path string, err error)
}

// Tree is one rendered image a pod uses.
type Tree struct {
	ImageID  string
	TreeID   string
	Path     string
	Manifest *schema.ImageManifest
}

// Plan is a pod ready to be laid out: its manifest and the rendered trees
// of stage1 and of every app (in manifest order).
type Plan struct {
	Manifest *schema.PodManifest
	Stage1   Tree
	Apps     []Tree
}

// NewPlan renders the trees of stage1 and of every app and checks each app
// against its tree (CheckApp), the way stage1 and stage2 will look at
// it, so a pod stage1 would refuse is refused before its directory or
// any mount exists. A refusal is a *CheckError.
//
// The trees are rendered (or, when already there, verified) at the same
// time: verifying is mostly waiting for the file system, and each image
// is looked at once however many apps use it. Errors are reported in
// manifest order, stage1 first, as if done one after the other.
func NewPlan(pm *schema.PodManifest, stage1ID string, images Images) (*Plan, error) {
	ids := []string{stage1ID}
	for _, ra := range pm.Apps {
		ids = append(ids, ra.Image.ID.String())
	}
	trees := renderTrees(ids, images)
	s1 := trees[stage1ID]
	if s1.err != nil {
		return nil, fmt.Errorf("stage1: %w", s1.err)
	}
	plan := &Plan{Manifest: pm, Stage1: s1.tree}
	for _, ra := range pm.Apps {
		t := trees[ra.Image.ID.String()]
		if t.err != nil {
			return nil, fmt.Errorf("app %s: %w", ra.Name, t.err)
		}
		if err := checkRuntimeApp(&ra, t.tree); err != nil {
			return nil, err
		}
		plan.Apps = append(plan.Apps, t.tree)
	}
	return plan, nil
}

type renderResult struct {
	tree Tree
	err  error
}

// renderTrees renders every distinct image of ids concurrently. An image
// is rendered by one goroutine only: two holders of the shared tree lock
// in one process could each wait for the other to let go when the tree
// needs re-rendering.
func renderTrees(ids []string, images Images) map[string]*renderResult {
	out := map[string]*renderResult{}
	var wg sync.WaitGroup
	for _, id := range ids {
		if _, ok := out[id]; ok {
			continue
		}
		r := &renderResult{}
		out[id] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.tree, r.err = renderTree(id, images)
		}()
	}
	wg.Wait()
	return out
}

func renderTree(id string, images Images) (Tree, error) {
	im, err := images.Manifest(id)
	if err != nil {
		return Tree{}, err
	}
	treeID, path, err := images.RenderTree(id)
	if err != nil {
		return Tree{}, fmt.Errorf("render %s: %w", id, err)
	}
	if strings.ContainsAny(path, ",:") {
		return Tree{}, fmt.Errorf("tree path %q holds ',' or ':', which overlayfs options cannot carry", path)
	}
	return Tree{ImageID: id, TreeID: treeID, Path: path, Manifest: im}, nil
}
