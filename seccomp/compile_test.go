package seccomp

import (
	"bytes"
	"encoding/json"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// dockerCaps is Docker's default capability set.
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

const (
	allow  = unix.SECCOMP_RET_ALLOW
	eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	kill   = unix.SECCOMP_RET_KILL_PROCESS
)

// sys is the call of the named syscall on ABI ab.
func sys(t testing.TB, ab *arch, name string, args ...uint64) call {
	t.Helper()
	nr, ok := ab.table[name]
	if !ok {
		t.Fatalf("no syscall %s on %s", name, ab.scmp)
	}
	c := call{audit: ab.audit, nr: nr}
	copy(c.args[:], args)
	return c
}

func compile(t testing.TB, p *Profile, goarch string, caps ...string) *vm {
	t.Helper()
	f, err := p.Compile(goarch, caps)
	if err != nil {
		t.Fatal(err)
	}
	return newVM(t, f)
}

const (
	nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
		unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
		unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID |
		unix.CLONE_CHILD_CLEARTID
)

type want struct {
	c    call
	ret  uint32
	what string
}

func check(t *testing.T, v *vm, cases []want) {
	t.Helper()
	for _, w := range cases {
		if got := v.run(w.c); got != w.ret {
			t.Errorf("%s: got %#x, want %#x", w.what, got, w.ret)
		}
	}
	if t.Failed() {
		t.Logf("program:\n%s", v.dump())
	}
}

// The default profile on amd64, with Docker's default capabilities,
// run in the VM over the calls whose fate Docker's documentation and
// profile spell out.
func TestDefaultProfileAMD64(t *testing.T) {
	v := compile(t, DefaultProfile(), "amd64", dockerCaps...)
	x := archX86_64
	s := func(name string, args ...uint64) call { return sys(t, x, name, args...) }
	check(t, v, []want{
		// Ordinary work.
		{s("read"), allow, "read"},
		{s("write"), allow, "write"},
		{s("openat"), allow, "openat"},
		{s("mmap"), allow, "mmap"},
		{s("futex"), allow, "futex"},
		{s("execve"), allow, "execve"},
		{s("exit_group"), allow, "exit_group"},
		{s("rt_sigreturn"), allow, "rt_sigreturn"},
		{s("clone", threadFlags), allow, "clone of a thread"},
		{s("clone", uint64(unix.SIGCHLD)), allow, "fork as clone(SIGCHLD)"},
		{s("clone", unix.CLONE_VM|unix.CLONE_VFORK|uint64(unix.SIGCHLD)), allow, "vfork as clone"},
		{s("chroot"), allow, "chroot with CAP_SYS_CHROOT"},
		{s("ptrace"), allow, "ptrace (kernel >= 4.8)"},
		{s("arch_prctl"), allow, "arch_prctl on amd64"},
		{s("fchmodat2"), allow, "fchmodat2, newer than the headers"},
		// What the profile blocks.
		{s("keyctl"), eperm, "keyctl"},
		{s("add_key"), eperm, "add_key"},
		{s("request_key"), eperm, "request_key"},
		{s("mount"), eperm, "mount"},
		{s("umount2"), eperm, "umount2"},
		{s("unshare", unix.CLONE_NEWUSER), eperm, "unshare(CLONE_NEWUSER)"},
		{s("setns"), eperm, "setns"},
		{s("pivot_root"), eperm, "pivot_root"},
		{s("swapon"), eperm, "swapon"},
		{s("reboot"), eperm, "reboot"},
		{s("kexec_load"), eperm, "kexec_load"},
		{s("init_module"), eperm, "init_module"},
		{s("bpf"), eperm, "bpf"},
		{s("perf_event_open"), eperm, "perf_event_open"},
		{s("open_by_handle_at"), eperm, "open_by_handle_at without CAP_DAC_READ_SEARCH"},
		{s("kcmp"), eperm, "kcmp without CAP_SYS_PTRACE"},
		{s("pidfd_getfd"), eperm, "pidfd_getfd without CAP_SYS_PTRACE"},
		{s("settimeofday"), eperm, "settimeofday without CAP_SYS_TIME"},
		{s("userfaultfd"), eperm, "userfaultfd"},
		{s("io_uring_setup"), eperm, "io_uring_setup"},
		{s("afs_syscall"), eperm, "a number the profile does not list"},
		// clone's namespace flags, one at a time and with the others.
		{s("clone", unix.CLONE_NEWUSER), eperm, "clone(CLONE_NEWUSER)"},
		{s("clone", unix.CLONE_NEWNS|uint64(unix.SIGCHLD)), eperm, "clone(CLONE_NEWNS|SIGCHLD)"},
		{s("clone", threadFlags|unix.CLONE_NEWNET), eperm, "clone of a thread with CLONE_NEWNET"},
		{s("clone", 1<<32|uint64(unix.SIGCHLD)), allow, "clone, high bits outside the mask"},
		{s("clone3"), enosys, "clone3 (ENOSYS, so that glibc falls back to clone)"},
		// personality: the five values Docker allows.
		{s("personality", 0), allow, "personality(PER_LINUX)"},
		{s("personality", 8), allow, "personality(UNAME26)"},
		{s("personality", 0x20000), allow, "personality(ADDR_NO_RANDOMIZE)"},
		{s("personality", 0x20008), allow, "personality(ADDR_NO_RANDOMIZE|UNAME26)"},
		{s("personality", 0xffffffff), allow, "personality(query)"},
		{s("personality", 6), eperm, "personality(PER_BSD)"},
		{s("personality", 1<<32), eperm, "personality(0) with a high bit"},
		{s("personality", 0x20009), eperm, "personality(0x20009)"},
		// socket's domains.
		{s("socket", unix.AF_UNIX), allow, "socket(AF_UNIX)"},
		{s("socket", unix.AF_INET), allow, "socket(AF_INET)"},
		{s("socket", unix.AF_INET6), allow, "socket(AF_INET6)"},
		{s("socket", unix.AF_NETLINK), allow, "socket(AF_NETLINK)"},
		{s("socket", unix.AF_PACKET), allow, "socket(AF_PACKET)"},
		{s("socket", unix.AF_XDP), allow, "socket(AF_XDP)"},
		{s("socket", unix.AF_MCTP), allow, "socket(AF_MCTP)"},
		{s("socket", unix.AF_VSOCK), eperm, "socket(AF_VSOCK)"},
		{s("socket", unix.AF_ALG), eperm, "socket(AF_ALG)"},
		{s("socket", unix.AF_INET|1<<32), eperm, "socket(AF_INET) with a high bit"},
		{s("socket", 0xffff), eperm, "socket(0xffff)"},
		// Numbers past the profile's last: ENOSYS; past the ABI: x32.
		{call{audit: x.audit, nr: 1000}, enosys, "x86_64 number 1000"},
		{call{audit: x.audit, nr: x32SyscallBit - 1}, enosys, "the last x86_64 number"},
		// Another architecture altogether.
		{call{audit: unix.AUDIT_ARCH_ARM, nr: 3}, kill, "an arm syscall"},
		{call{audit: unix.AUDIT_ARCH_AARCH64, nr: 63}, kill, "an aarch64 syscall"},
	})
}

// x32 and i386 get their own tables: the same names, other numbers.
func TestDefaultProfileSubArchitectures(t *testing.T) {
	v := compile(t, DefaultProfile(), "amd64", dockerCaps...)
	var cases []want
	for _, ab := range []*arch{archX32, archX86} {
		s := func(name string, args ...uint64) call { return sys(t, ab, name, args...) }
		n := string(ab.scmp) + " "
		cases = append(cases,
			want{s("read"), allow, n + "read"},
			want{s("execve"), allow, n + "execve"},
			want{s("keyctl"), eperm, n + "keyctl"},
			want{s("mount"), eperm, n + "mount"},
			want{s("unshare", unix.CLONE_NEWUSER), eperm, n + "unshare"},
			want{s("clone", unix.CLONE_NEWUSER), eperm, n + "clone(CLONE_NEWUSER)"},
			want{s("clone", uint64(unix.SIGCHLD)), allow, n + "clone(SIGCHLD)"},
			want{s("clone3"), enosys, n + "clone3"},
			want{s("personality", 0xffffffff), allow, n + "personality(query)"},
			want{s("personality", 6), eperm, n + "personality(PER_BSD)"},
			want{s("socket", unix.AF_INET), allow, n + "socket(AF_INET)"},
			want{s("socket", unix.AF_VSOCK), eperm, n + "socket(AF_VSOCK)"},
		)
	}
	cases = append(cases,
		want{sys(t, archX86, "socketcall"), allow, "i386 socketcall"},
		// i386 arguments are 32 bits: the high word is not looked at.
		want{sys(t, archX86, "personality", 1<<32), allow, "i386 personality, high word ignored"},
		want{call{audit: unix.AUDIT_ARCH_I386, nr: 5000}, enosys, "i386 number 5000"},
		want{call{audit: unix.AUDIT_ARCH_X86_64, nr: x32SyscallBit | 5000}, enosys, "x32 number 5000"},
	)
	check(t, v, cases)
}

func TestDefaultProfileARM64(t *testing.T) {
	v := compile(t, DefaultProfile(), "arm64", dockerCaps...)
	s := func(name string, args ...uint64) call { return sys(t, archAArch64, name, args...) }
	check(t, v, []want{
		{s("openat"), allow, "openat"},
		{s("clone", uint64(unix.SIGCHLD)), allow, "clone(SIGCHLD)"},
		{s("clone", unix.CLONE_NEWUSER), eperm, "clone(CLONE_NEWUSER)"},
		{s("keyctl"), eperm, "keyctl"},
		{s("mount"), eperm, "mount"},
		{s("personality", 6), eperm, "personality(PER_BSD)"},
		{s("socket", unix.AF_VSOCK), eperm, "socket(AF_VSOCK)"},
	})
	check(t, v, []want{
		{call{audit: unix.AUDIT_ARCH_X86_64, nr: 0}, kill, "an x86_64 syscall on arm64"},
		{call{audit: unix.AUDIT_ARCH_ARM, nr: 3}, kill, "an arm (compat) syscall: no table"},
		{call{audit: unix.AUDIT_ARCH_AARCH64, nr: 1000}, enosys, "aarch64 number 1000"},
	})
}

// --cap-add changes the filter as in Docker.
func TestCapabilitiesChangeTheFilter(t *testing.T) {
	x := archX86_64
	s := func(name string, args ...uint64) call { return sys(t, x, name, args...) }
	for _, tc := range []struct {
		cap   string
		calls []call
	}{
		{"CAP_SYS_ADMIN", []call{s("mount"), s("umount2"), s("unshare", unix.CLONE_NEWUSER), s("setns"),
			s("clone", unix.CLONE_NEWUSER), s("clone3"), s("bpf"), s("sethostname")}},
		{"CAP_SYS_PTRACE", []call{s("kcmp"), s("pidfd_getfd"), s("process_madvise")}},
		{"CAP_SYS_TIME", []call{s("settimeofday"), s("clock_settime")}},
		{"CAP_DAC_READ_SEARCH", []call{s("open_by_handle_at")}},
		{"CAP_SYS_MODULE", []call{s("init_module"), s("finit_module")}},
		{"CAP_SYS_BOOT", []call{s("reboot")}},
		{"SYS_NICE", []call{s("mbind"), s("set_mempolicy")}}, // the CAP_ prefix is optional
	} {
		without := compile(t, DefaultProfile(), "amd64", dockerCaps...)
		with := compile(t, DefaultProfile(), "amd64", append(slices.Clone(dockerCaps), tc.cap)...)
		for _, c := range tc.calls {
			if got := without.run(c); got == allow {
				t.Errorf("without %s: nr %d allowed", tc.cap, c.nr)
			}
			if got := with.run(c); got != allow {
				t.Errorf("with %s: nr %d got %#x, want allow", tc.cap, c.nr, got)
			}
		}
	}
	// And dropping one: no CAP_SYS_CHROOT, no chroot.
	v := compile(t, DefaultProfile(), "amd64", "CAP_CHOWN")
	if got := v.run(s("chroot")); got != eperm {
		t.Errorf("chroot without CAP_SYS_CHROOT: %#x, want EPERM", got)
	}
}

// The kernel-version condition: ptrace is allowed from Linux 4.8 on.
func TestMinKernel(t *testing.T) {
	defer func(f func() (string, error)) { kernelRelease = f }(kernelRelease)
	for _, tc := range []struct {
		release string
		want    uint32
	}{{"4.7.10-generic", eperm}, {"4.8.0", allow}, {"6.18.44-fc", allow}, {"5.4", allow}} {
		kernelRelease = func() (string, error) { return tc.release, nil }
		v := compile(t, DefaultProfile(), "amd64", dockerCaps...)
		if got := v.run(sys(t, archX86_64, "ptrace")); got != tc.want {
			t.Errorf("kernel %s: ptrace %#x, want %#x", tc.release, got, tc.want)
		}
	}
	kernelRelease = func() (string, error) { return "weird", nil }
	if _, err := DefaultProfile().Compile("amd64", nil); err == nil {
		t.Error("an unparsable kernel release compiled")
	}
}

// Same input, same bytes: map order, capability order and a JSON round
// trip of the profile change nothing.
func TestCompileDeterministic(t *testing.T) {
	first, err := DefaultProfile().Compile("amd64", dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	reread, err := ParseProfile(data)
	if err != nil {
		t.Fatal(err)
	}
	rev := slices.Clone(dockerCaps)
	slices.Reverse(rev)
	for i := range 20 {
		p := DefaultProfile()
		if i%2 == 1 {
			p = reread
		}
		f, err := p.Compile("amd64", rev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Program, first.Program) {
			t.Fatalf("compile %d gave other bytes (%d vs %d instructions)", i, f.Len(), first.Len())
		}
	}
}

// A syscall's cost is a search, not a scan: every number of every ABI
// runs in few instructions.
func TestCompiledProgramIsSmallAndShallow(t *testing.T) {
	for _, goarch := range []string{"amd64", "arm64"} {
		f, err := DefaultProfile().Compile(goarch, dockerCaps)
		if err != nil {
			t.Fatal(err)
		}
		v := newVM(t, f)
		plat := byGOARCH[goarch]
		worst, total, n := 0, 0, 0
		for _, ab := range append([]*arch{plat.native}, plat.subs...) {
			for _, nr := range ab.table {
				// A plain call, and one the argument rules look at.
				for _, arg := range []uint64{0, unix.CLONE_NEWUSER} {
					_, steps := v.steps(call{audit: ab.audit, nr: nr, args: [6]uint64{arg}})
					worst, total, n = max(worst, steps), total+steps, n+1
				}
			}
		}
		t.Logf("%s: %d instructions; per syscall %d at most, %.1f on average", goarch, f.Len(), worst, float64(total)/float64(n))
		// A linear chain over ~400 syscalls would run hundreds.
		if worst > 40 {
			t.Errorf("%s: a syscall runs %d instructions", goarch, worst)
		}
		if f.Len() > 1000 {
			t.Errorf("%s: %d instructions", goarch, f.Len())
		}
	}
}

func TestUnknownGOARCH(t *testing.T) {
	if _, err := DefaultProfile().Compile("riscv64", nil); err == nil {
		t.Error("compiled for an arch without a table")
	}
}

// The tables agree with golang.org/x/sys/unix on this host's ABI.
func TestTableSpotChecks(t *testing.T) {
	for name, nr := range map[string]uint32{
		"keyctl": unix.SYS_KEYCTL, "add_key": unix.SYS_ADD_KEY, "mount": unix.SYS_MOUNT,
		"unshare": unix.SYS_UNSHARE, "clone": unix.SYS_CLONE, "clone3": unix.SYS_CLONE3,
		"openat": unix.SYS_OPENAT, "personality": unix.SYS_PERSONALITY, "socket": unix.SYS_SOCKET,
		"kcmp": unix.SYS_KCMP, "mkdirat": unix.SYS_MKDIRAT, "cachestat": unix.SYS_CACHESTAT,
	} {
		if got, ok := byGOARCH[runtime.GOARCH].native.table[name]; !ok || got != nr {
			t.Errorf("%s: table %d (%v), x/sys %d", name, got, ok, nr)
		}
	}
}

// A profile without rules: one return, no search.
func TestProfileWithoutRules(t *testing.T) {
	v := compile(t, parse(t, `{"defaultAction":"SCMP_ACT_LOG"}`), "arm64")
	check(t, v, []want{
		{sys(t, archAArch64, "openat"), unix.SECCOMP_RET_LOG, "openat"},
		{call{audit: unix.AUDIT_ARCH_AARCH64, nr: 5000}, unix.SECCOMP_RET_LOG, "number 5000"},
		{call{audit: unix.AUDIT_ARCH_X86_64}, kill, "x86_64 read"},
	})
	if n := len(v.prog); n != 4 {
		t.Errorf("%d instructions:\n%s", n, v.dump())
	}
}
