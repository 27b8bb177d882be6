// Package stage1abi is the contract between stage0 and a stage1, rkt's
// stage1 ABI with saturn's additions (docs/stage1-abi.md): the files
// each side writes in a pod directory, the annotations of stage1 images
// and pods, the entrypoints' arguments (RunFlags and the others, which
// stage0 renders and every stage1 parses), and readers and writers for
// the files both sides read.
//
// One definition serves both sides, so stage0 and the stage1s cannot
// disagree on a name, and a stage1 accepts the flags of a newer stage0
// that it does not know, as the ABI asks.
//
// It imports neither appc nor any package with start-up cost: a stage1's
// processes, which live for milliseconds, import it.
package stage1abi
