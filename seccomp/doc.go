// Package seccomp turns Docker's seccomp profiles into the kernel's
// classic BPF filters and installs them, in pure Go (no libseccomp, no
// cgo: lfs is one static binary).
//
// # Lifecycle
//
// A [Profile] is [DefaultProfile] (Docker's own, from moby's Go source of
// it) or one the user gives ([LoadProfile], --security-opt
// seccomp=PATH), checked as it is read: a bad one fails with one line
// naming the problem. [Select] picks one from --security-opt seccomp=
// and --privileged as Docker does. [Profile.Compile] makes the [Filter] for one
// architecture and the container's capability set, which the profile's
// includes/excludes depend on, as in Docker (--cap-add SYS_ADMIN
// allows mount and unshare). The Filter is plain bytes, made in the
// parent and sent to the sandbox's child, which calls [NoNewPrivs] if
// asked and [Filter.Install] as late as it can before its exec.
// --security-opt seccomp=unconfined and --privileged mean no Profile and
// no Filter; a nil *Filter installs nothing.
//
// # The program
//
// The filter checks seccomp_data.arch first (a syscall of an ABI it has
// no section for kills the process), then does a binary search over
// the syscall number: the profile becomes runs of numbers with one
// decision each, so a syscall costs about a dozen instructions however
// long the profile, not one comparison per listed syscall. Argument
// conditions are compared as 64-bit values, word by word (the low word
// only on 32-bit ABIs, as libseccomp does); several conditions on one
// argument with one action (Docker's socket and personality rules)
// become one search over value ranges. On amd64 the filter has sections
// for x86_64, x32 (numbers with the x32 bit, under x86_64's arch value)
// and i386, as Docker's archMap asks.
//
// # Invariants
//
//   - The same profile, architecture and capability set give the same
//     bytes: everything is laid out in sorted or profile order.
//   - Syscall names unknown to an ABI's table are skipped on that ABI
//     (libseccomp runtimes do the same), so one profile serves every
//     architecture and kernel.
//   - The tables (zsyscalls.go) are generated (go generate) from the
//     kernel headers and golang.org/x/sys, never edited by hand; a test
//     regenerates them and compares.
package seccomp
