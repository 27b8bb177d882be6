package main

import (
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		q    float64
		want float64
	}{
		{nil, 0.5, 0},
		{[]float64{3}, 0.5, 3},
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{4, 1, 3, 2}, 0.5, 2.5},
		{[]float64{4, 1, 3, 2}, 0.25, 1.75},
		{[]float64{4, 1, 3, 2}, 1, 4},
	} {
		if got := quantile(tc.xs, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.xs, tc.q, got, tc.want)
		}
	}
}

func TestParseGoals(t *testing.T) {
	cmds := []*command{{name: "a"}, {name: "b"}}
	for _, tc := range []struct {
		spec string
		ok   bool
	}{
		{"x|a/b|wall|<=|0.9", true},
		{"x|a/b|rate|>=|1", true},
		{"x|a/b|cpu", true},
		{"x|a/c|wall|<=|1", false},
		{"x|a/b|speed|<=|1", false},
		{"x|a/b|wall|<|1", false},
		{"x|a/b|wall|<=|fast", false},
		{"x|a/b", false},
	} {
		_, err := parseGoals([]string{tc.spec}, cmds)
		if (err == nil) != tc.ok {
			t.Errorf("parseGoals(%q): err %v, want ok %v", tc.spec, err, tc.ok)
		}
	}
}

func TestGoalLine(t *testing.T) {
	samples := map[string][]sample{
		"a": {{wall: 9 * time.Millisecond}, {wall: 8 * time.Millisecond}, {wall: 30 * time.Millisecond}},
		"b": {{wall: 10 * time.Millisecond}, {wall: 10 * time.Millisecond}, {wall: 10 * time.Millisecond}},
	}
	// Per-round ratios 0.9, 0.8, 3: the median is 0.9, whatever the
	// outlier; the ratio of the medians would be 0.9 as well here.
	met := goal{label: "x", a: "a", b: "b", metric: "wall", op: "<=", bound: 0.9}.line(samples)
	if !strings.Contains(met, " 0.90x ") || !strings.HasSuffix(met, ": met") {
		t.Errorf("line = %q, want 0.90x met", met)
	}
	not := goal{label: "x", a: "a", b: "b", metric: "wall", op: ">=", bound: 1}.line(samples)
	if !strings.HasSuffix(not, ": NOT met") {
		t.Errorf("line = %q, want NOT met", not)
	}
	none := goal{label: "x", a: "a", b: "b", metric: "wall"}.line(samples)
	if strings.Contains(none, "goal <=") || strings.Contains(none, "met") {
		t.Errorf("line = %q, want no verdict", none)
	}
}
