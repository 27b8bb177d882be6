package seccomp

// auditArch is AUDIT_ARCH_AARCH64.
const auditArch = 0xc00000b7

// x32Bit is 0: arm64 has no second ABI sharing its arch value.
const x32Bit = 0
