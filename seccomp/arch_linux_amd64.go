package seccomp

// auditArch is AUDIT_ARCH_X86_64, what the kernel reports in
// seccomp_data.arch for a 64-bit system call of this architecture.
const auditArch = 0xc000003e

// x32Bit marks a system call of the x32 ABI, which shares the arch of
// x86_64 but not its numbers: every filter refuses those.
const x32Bit = 0x40000000
