package seccomp

import "testing"

// BenchmarkDefault is the run entrypoint's work for an app without a
// seccomp isolator.
func BenchmarkDefault(b *testing.B) {
	for b.Loop() {
		Default()
	}
}

// BenchmarkCompileDefault is PID 1's work per process it starts.
func BenchmarkCompileDefault(b *testing.B) {
	f := Default()
	for b.Loop() {
		if _, err := Compile(f); err != nil {
			b.Fatal(err)
		}
	}
}
