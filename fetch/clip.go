package fetch

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/appc/spec/schema/types"
)

// maxEcho is how many characters of a user-supplied value (a reference,
// path or URL) messages repeat; a longer value is shortened in the middle
// so both its start and its end stay recognisable.
const maxEcho = 80

// Clip shortens s to about maxEcho characters with "…" in the middle, so
// that no message or table echoes unbounded input.
func Clip(s string) string {
	r := []rune(s)
	if len(r) <= maxEcho {
		return s
	}
	head := maxEcho * 2 / 3
	tail := maxEcho - head - 1
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// clipPathError shortens the path an *os.PathError repeats.
func clipPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) && len(pe.Path) > maxEcho {
		return &os.PathError{Op: pe.Op, Path: Clip(pe.Path), Err: pe.Err}
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
	return Clip(b.String())
}
