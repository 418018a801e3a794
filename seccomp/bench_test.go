package seccomp

import (
	"slices"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The compiled default profile against the layout libseccomp emits by
// default, a linear chain of one comparison per allowed syscall (here
// for x86_64 only, without argument rules: a lower bound for it), both
// in x/net/bpf's VM, over a mix of the syscalls programs make most.
//
//	go test -run '^$' -bench . -benchtime 2s ./seccomp/
func BenchmarkFilter(b *testing.B) {
	f, err := DefaultProfile().Compile("amd64", dockerCaps)
	if err != nil {
		b.Fatal(err)
	}
	tree := newVM(b, f)
	linear := linearProgram(b, tree)
	var mix []call
	for _, name := range []string{"read", "write", "futex", "epoll_pwait", "openat", "close",
		"newfstatat", "mmap", "getdents64", "recvfrom", "sendto", "clock_nanosleep", "execve"} {
		mix = append(mix, sys(b, archX86_64, name))
	}
	mix = append(mix, sys(b, archX86_64, "clone", uint64(unix.SIGCHLD)), sys(b, archX86_64, "socket", unix.AF_INET))
	datas := make([][]byte, len(mix))
	for i, c := range mix {
		datas[i] = c.data()
	}
	for _, bc := range []struct {
		name string
		vm   *vm
	}{{"tree", tree}, {"linear", linear}} {
		steps := 0
		for _, c := range mix {
			_, n := bc.vm.steps(c)
			steps += n
		}
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				bc.vm.bvm.Run(datas[i%len(datas)])
			}
			b.ReportMetric(float64(len(bc.vm.prog)), "insns")
			b.ReportMetric(float64(steps)/float64(len(mix)), "run/call")
		})
	}
}

// linearProgram is one jeq per syscall number tree allows outright, on
// x86_64.
func linearProgram(b *testing.B, tree *vm) *vm {
	var nrs []uint32
	for _, nr := range archX86_64.table {
		if tree.run(call{audit: archX86_64.audit, nr: nr}) == allow {
			nrs = append(nrs, nr)
		}
	}
	slices.Sort(nrs)
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AUDIT_ARCH_X86_64, SkipTrue: 1},
		bpf.RetConstant{Val: kill},
		bpf.LoadAbsolute{Off: offNR, Size: 4},
	}
	for _, nr := range nrs {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 1}, bpf.RetConstant{Val: allow})
	}
	prog = append(prog, bpf.RetConstant{Val: eperm})
	v, err := bpf.NewVM(prog)
	if err != nil {
		b.Fatal(err)
	}
	return &vm{t: b, bvm: v, prog: prog}
}

// Compiling Docker's default profile, which lfs run does once per
// container (overlapped with the mount):
//
//	go test -run '^$' -bench Compile ./seccomp/
func BenchmarkCompileDefault(b *testing.B) {
	for b.Loop() {
		if _, err := DefaultProfile().Compile("amd64", dockerCaps); err != nil {
			b.Fatal(err)
		}
	}
}
