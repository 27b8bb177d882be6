package fetch

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/clip"
)

// clipPathError shortens the path an *os.PathError repeats.
func clipPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) && len(pe.Path) > clip.Max {
		return &os.PathError{Op: pe.Op, Path: clip.String(pe.Path), Err: pe.Err}
	}
	return err
}

// depString names a dependency the way a user would type it.
func depString(dep types.Dependency) string {
	var b strings.Builder
	b.WriteString(string(dep.ImageName))
	for _, l := range dep.Labels {
		fmt.Fprintf(&b, ",%s=%s", l.Name, l.Value)
	}
	if dep.ImageID != nil && !dep.ImageID.Empty() {
		fmt.Fprintf(&b, " (%s)", types.ShortHash(dep.ImageID.String()))
	}
	return clip.String(b.String())
}
