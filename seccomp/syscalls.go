package seccomp

//go:generate go run ./internal/mksyscalls -o zsyscalls.go

// x32SyscallBit marks an x32 syscall: x32 processes run on x86_64 with
// the x86_64 audit arch and this bit in their syscall numbers.
const x32SyscallBit = 0x40000000
