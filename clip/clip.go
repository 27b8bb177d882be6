// Package clip shortens user-supplied values (image references, paths,
// URLs, trust prefixes) before messages and tables repeat them, so no
// error or listing echoes unbounded input. fetch, store, trust and stage0
// all clip the same way.
package clip

import "strconv"

// Max is how many characters of a value a message repeats; a longer value
// is shortened in the middle so both its start and its end stay
// recognisable.
const Max = 80

// String shortens s to Max characters with "…" in the middle.
func String(s string) string {
	r := []rune(s)
	if len(r) <= Max {
		return s
	}
	head := Max * 2 / 3
	tail := Max - head - 1
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// Safe is String, quoted as a Go string when s holds a control character
// (a newline, say), so that a message stays one line.
func Safe(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return strconv.Quote(String(s))
		}
	}
	return String(s)
}
