package seccomp

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func parse(t *testing.T, js string) *Profile {
	t.Helper()
	p, err := ParseProfile([]byte(js))
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	return p
}

func TestCustomProfiles(t *testing.T) {
	x := archX86_64
	s := func(name string, args ...uint64) call { return sys(t, x, name, args...) }
	for _, tc := range []struct {
		name, profile string
		cases         []want
	}{
		{"allow by default, block mkdir", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
			{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`, []want{
			{s("mkdir"), eperm, "mkdir"},
			{s("mkdirat"), eperm, "mkdirat"},
			{s("keyctl"), allow, "keyctl"},
			// No ENOSYS past the last named when the default allows.
			{call{audit: x.audit, nr: 1000}, allow, "number 1000"},
		}},
		{"errno values and the deprecated name", `{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"syscalls":[
			{"name":"getpid","action":"SCMP_ACT_ERRNO","errnoRet":5},
			{"names":["read","nosuchcall"],"action":"SCMP_ACT_ALLOW"}]}`, []want{
			{s("getpid"), unix.SECCOMP_RET_ERRNO | 5, "getpid"},
			{s("read"), allow, "read: an unknown name beside it is skipped"},
			{s("write"), unix.SECCOMP_RET_ERRNO | 13, "write: defaultErrnoRet"},
		}},
		{"every action", `{"defaultAction":"SCMP_ACT_KILL_PROCESS","syscalls":[
			{"names":["read"],"action":"SCMP_ACT_KILL_THREAD"},
			{"names":["write"],"action":"SCMP_ACT_KILL"},
			{"names":["close"],"action":"SCMP_ACT_TRAP"},
			{"names":["getpid"],"action":"SCMP_ACT_LOG"},
			{"names":["getppid"],"action":"SCMP_ACT_TRACE","errnoRet":7},
			{"names":["gettid"],"action":"SCMP_ACT_TRACE"},
			{"names":["openat"],"action":"SCMP_ACT_ALLOW"}]}`, []want{
			{s("read"), unix.SECCOMP_RET_KILL_THREAD, "KILL_THREAD"},
			{s("write"), unix.SECCOMP_RET_KILL_THREAD, "KILL"},
			{s("close"), unix.SECCOMP_RET_TRAP, "TRAP"},
			{s("getpid"), unix.SECCOMP_RET_LOG, "LOG"},
			{s("getppid"), unix.SECCOMP_RET_TRACE | 7, "TRACE 7"},
			{s("gettid"), unix.SECCOMP_RET_TRACE | uint32(unix.EPERM), "TRACE, EPERM by default"},
			{s("openat"), allow, "ALLOW"},
			{s("mount"), kill, "the default"},
		}},
		{"an unconditional rule wins, the first one", `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
			{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":9,"args":[{"index":0,"value":3,"op":"SCMP_CMP_EQ"}]},
			{"names":["read"],"action":"SCMP_ACT_ALLOW"},
			{"names":["read"],"action":"SCMP_ACT_KILL"}]}`, []want{
			{s("read", 3), allow, "read(3)"},
			{s("read", 4), allow, "read(4)"},
		}},
		{"conditions: first match wins, same-argument conditions OR", `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
			{"names":["write"],"action":"SCMP_ACT_ERRNO","errnoRet":22,"args":[
				{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":2,"value":100,"op":"SCMP_CMP_GT"}]},
			{"names":["write"],"action":"SCMP_ACT_ALLOW","args":[
				{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}]}`, []want{
			{s("write", 1, 0, 101), unix.SECCOMP_RET_ERRNO | 22, "write(1, _, 101): both conditions"},
			{s("write", 1, 0, 100), allow, "write(1, _, 100)"},
			{s("write", 2, 0, 500), allow, "write(2, _, 500)"},
			{s("write", 3), eperm, "write(3)"},
		}},
		{"architectures: x86_64 only", `{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
			"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`, []want{
			{s("read"), allow, "x86_64 read"},
			{sys(t, archX86, "read"), kill, "i386 read: no i386 section"},
			{sys(t, archX32, "read"), kill, "x32 read: no x32 section"},
		}},
		{"architectures: x32 too", `{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X32"],
			"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`, []want{
			{sys(t, archX32, "read"), allow, "x32 read"},
			{sys(t, archX86, "read"), kill, "i386 read"},
		}},
		{"no architectures: the native one", `{"defaultAction":"SCMP_ACT_ERRNO",
			"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`, []want{
			{s("read"), allow, "x86_64 read"},
			{sys(t, archX86, "read"), kill, "i386 read"},
		}},
		{"includes and excludes", `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
			{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
			{"names":["write"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_CHOWN"]}},
			{"names":["close"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["arm64"]}},
			{"names":["getpid"],"action":"SCMP_ACT_ALLOW","excludes":{"arches":["arm64"]}},
			{"names":["gettid"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"99.0"}},
			{"names":["exit_group"],"action":"SCMP_ACT_ALLOW"}]}`, []want{
			{s("read"), eperm, "read needs CAP_SYS_ADMIN"},
			{s("write"), eperm, "write is out with CAP_CHOWN"},
			{s("close"), eperm, "close only on arm64"},
			{s("getpid"), allow, "getpid except on arm64"},
			{s("gettid"), eperm, "gettid from Linux 99"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, compile(t, parse(t, tc.profile), "amd64", "CAP_CHOWN"), tc.cases)
		})
	}
}

func TestEmptyProfileIsUnconfined(t *testing.T) {
	f, err := parse(t, `{}`).Compile("amd64", nil)
	if err != nil || f != nil {
		t.Fatalf("{}: %v, %v; want no filter, as Docker", f, err)
	}
	if err := f.Install(); err != nil {
		t.Errorf("a nil filter's Install: %v", err)
	}
}

func TestBadProfiles(t *testing.T) {
	for _, tc := range []struct{ profile, want string }{
		{`{"defaultAction":"SCMP_ACT_ERRNO",`, "unexpected end of JSON input"},
		{"{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [}\n", "line 3, column 16: invalid character '}'"},
		{`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":"zero"}]}]}`,
			`line 1, column 114: syscalls.args.index: a JSON string where uint belongs`},
		{`{"defaultAction":"SCMP_ACT_NOPE"}`, `defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{`{"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`, "no defaultAction"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALOW"}]}`,
			`syscalls[0] (read): action: unknown action "SCMP_ACT_ALOW"`},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a","b"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}`,
			`syscalls[0] (a, ...): args[0]: index 6 is out of range`},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQUAL"}]}]}`,
			`syscalls[0] (read): args[0]: unknown operator "SCMP_CMP_EQUAL"`},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ERRNO"}]}`,
			`both name and names`},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}`, `syscalls[0]: no syscall names`},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_KILL","errnoRet":1}]}`,
			`an errno is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE`},
		{`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":70000}`, `errno 70000 is out of range`},
		{`{"defaultAction":"SCMP_ACT_NOTIFY"}`, `needs a seccomp agent`},
		{`{"defaultAction":"SCMP_ACT_ERRNO","listenerPath":"/run/agent.sock"}`, `listenerPath`},
		{`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_46"]}`, `unknown architecture "SCMP_ARCH_X86_46"`},
		{`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}`,
			`both architectures and archMap`},
		{`{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}`, `unsupported flag`},
		{`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd46"]}}]}`,
			`includes.arches: unknown architecture "amd46"`},
		{`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["SYS_ADMIN"]}}]}`,
			`includes.caps: "SYS_ADMIN" is not a capability name`},
		{`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}]}`,
			`invalid kernel version`},
		{`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[null]}`, `syscalls[0]: null rule`},
	} {
		_, err := ParseProfile([]byte(tc.profile))
		if err == nil {
			t.Errorf("%s: parsed", tc.profile)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s:\n got %q\nwant one line with %q", tc.profile, msg, tc.want)
		}
	}
}

func TestLoadProfile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	data, _ := json.Marshal(DefaultProfile())
	os.WriteFile(good, data, 0o644)
	if _, err := LoadProfile(good); err != nil {
		t.Errorf("Docker's default profile as a file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"nope"}]}`), 0o644)
	_, err := LoadProfile(bad)
	if want := "load seccomp profile " + bad + `: syscalls[0] (x): action: unknown action "nope"`; err == nil || err.Error() != want {
		t.Errorf("bad profile: %v\nwant %s", err, want)
	}
	_, err = LoadProfile(filepath.Join(dir, "missing.json"))
	if err == nil || !strings.Contains(err.Error(), "missing.json: no such file") {
		t.Errorf("missing profile: %v", err)
	}
}

// The compiler against a reference evaluator, written from the rules as
// documented, over random profiles and calls: every operator, values on
// both sides of the 32-bit boundary, several conditions per rule and
// per argument, rules that overlap, and 32- and 64-bit ABIs.
func TestCompilerAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"read", "write", "close", "getpid", "openat", "nosuchcall"}
	ops := []specs.LinuxSeccompOperator{specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpEqualTo, specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual}
	acts := []specs.LinuxSeccompAction{specs.ActAllow, specs.ActErrno, specs.ActKillProcess, specs.ActLog, specs.ActTrace}
	values := []uint64{0, 1, 2, 3, 0x7fffffff, 0xffffffff, 1 << 32, 1<<32 | 1, 1<<32 | 0xffffffff, 0xffffffff_ffffffff, 0x8000_0000_0000_0000}
	value := func() uint64 {
		if rng.IntN(4) == 0 {
			return rng.Uint64() >> rng.IntN(64)
		}
		return values[rng.IntN(len(values))]
	}
	for round := range 300 {
		var p profiles.Seccomp
		p.DefaultAction = []specs.LinuxSeccompAction{specs.ActErrno, specs.ActAllow, specs.ActKillProcess}[rng.IntN(3)]
		p.Architectures = []specs.Arch{specs.ArchX86_64, specs.ArchX86}
		for range 1 + rng.IntN(8) {
			sc := &profiles.Syscall{}
			for range 1 + rng.IntN(2) {
				sc.Names = append(sc.Names, names[rng.IntN(len(names))])
			}
			sc.Action = acts[rng.IntN(len(acts))]
			if sc.Action == specs.ActErrno && rng.IntN(2) == 0 {
				e := uint(rng.IntN(100))
				sc.ErrnoRet = &e
			}
			for range rng.IntN(4) {
				sc.Args = append(sc.Args, specs.LinuxSeccompArg{
					Index: uint(rng.IntN(3)), Op: ops[rng.IntN(len(ops))], Value: value(), ValueTwo: value()})
			}
			p.Syscalls = append(p.Syscalls, sc)
		}
		data, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		prof := parse(t, string(data))
		v := compile(t, prof, "amd64")
		for _, ab := range []*arch{archX86_64, archX86} {
			for range 200 {
				nr := ab.table[names[rng.IntN(len(names)-1)]]
				if rng.IntN(8) == 0 {
					nr = uint32(rng.IntN(600))
				}
				c := call{audit: ab.audit, nr: nr}
				for i := range 3 {
					c.args[i] = value()
				}
				if got, want := v.run(c), reference(prof, ab, c); got != want {
					t.Fatalf("round %d, %s nr %d args %#x: got %#x, want %#x\nprofile %s\n%s",
						round, ab.scmp, c.nr, c.args[:3], got, want, data, v.dump())
				}
			}
		}
	}
}

// reference is what Compile documents, computed directly: for profiles
// without includes/excludes.
func reference(p *Profile, ab *arch, c call) uint32 {
	def := ret(p.p.DefaultAction, p.p.DefaultErrnoRet)
	holds := func(a specs.LinuxSeccompArg) bool {
		x, v, v2 := c.args[a.Index], a.Value, a.ValueTwo
		if ab.bits32 {
			x, v, v2 = x&0xffffffff, v&0xffffffff, v2&0xffffffff
		}
		switch a.Op {
		case specs.OpNotEqual:
			return x != v
		case specs.OpLessThan:
			return x < v
		case specs.OpLessEqual:
			return x <= v
		case specs.OpEqualTo:
			return x == v
		case specs.OpGreaterEqual:
			return x >= v
		case specs.OpGreaterThan:
			return x > v
		case specs.OpMaskedEqual:
			return x&v == v2
		}
		panic(a.Op)
	}
	var last uint32
	named, decided := false, false
	var uncond uint32
	var conds []rule
	for _, sc := range p.p.Syscalls {
		r := ret(sc.Action, sc.ErrnoRet)
		for _, name := range sc.Names {
			nr, ok := ab.table[name]
			if !ok {
				continue
			}
			if !named || nr > last {
				last, named = nr, true
			}
			if nr != c.nr || r == def {
				continue
			}
			if len(sc.Args) == 0 {
				if !decided {
					uncond, decided = r, true
				}
				continue
			}
			conds = append(conds, rule{ret: r, args: sc.Args})
		}
	}
	if decided {
		return uncond
	}
	for _, r := range conds {
		// runc: conditions on one argument twice or more are OR'ed,
		// each its own rule; else AND'ed.
		seen, dup := map[uint]bool{}, false
		for _, a := range r.args {
			dup = dup || seen[a.Index]
			seen[a.Index] = true
		}
		all, any := true, false
		for _, a := range r.args {
			h := holds(a)
			all, any = all && h, any || h
		}
		if dup && any || !dup && all {
			return r.ret
		}
	}
	if named && c.nr > last && blocks(def) {
		return enosys
	}
	return def
}

func TestSelect(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(file, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
	for _, tc := range []struct {
		opt        string
		privileged bool
		want       string // "default", "none", "file"
	}{
		{"", false, "default"}, {"builtin", false, "default"}, {"unconfined", false, "none"},
		{file, false, "file"}, {"", true, "none"}, {file, true, "none"},
	} {
		p, err := Select(tc.opt, tc.privileged)
		if err != nil {
			t.Fatal(err)
		}
		f, err := p.Compile("amd64", dockerCaps)
		if err != nil {
			t.Fatal(err)
		}
		got := "none"
		if f != nil {
			v := newVM(t, f)
			got = map[uint32]string{eperm: "default", allow: "file"}[v.run(sys(t, archX86_64, "keyctl"))]
		}
		if got != tc.want {
			t.Errorf("Select(%q, privileged %v): %s, want %s", tc.opt, tc.privileged, got, tc.want)
		}
	}
	if _, err := Select("/nonexistent.json", false); err == nil {
		t.Error("a missing profile file selected")
	}
}
