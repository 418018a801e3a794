package seccomp

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Filter is a compiled profile: a classic BPF program for
// seccomp(SECCOMP_SET_MODE_FILTER). It is plain data, so it can travel
// to the sandbox's child as JSON. A nil *Filter is no filter
// (unconfined).
type Filter struct {
	// Program is the kernel's struct sock_filter array, 8 bytes an
	// instruction, in the host's byte order.
	Program []byte `json:"program"`
	// Flags are SECCOMP_FILTER_FLAG_* bits from the profile (LOG,
	// SPEC_ALLOW); Install adds TSYNC.
	Flags uint `json:"flags,omitempty"`
}

// Len is the number of instructions.
func (f *Filter) Len() int { return len(f.Program) / 8 }

// Instructions decodes the program (for tests and debugging).
func (f *Filter) Instructions() []bpf.RawInstruction {
	raw := make([]bpf.RawInstruction, f.Len())
	for i := range raw {
		b := f.Program[8*i:]
		raw[i] = bpf.RawInstruction{
			Op: binary.NativeEndian.Uint16(b[0:]),
			Jt: b[2], Jf: b[3],
			K: binary.NativeEndian.Uint32(b[4:]),
		}
	}
	return raw
}

// maxInstructions is the kernel's BPF_MAXINSNS.
const maxInstructions = 4096

// badArch is what a syscall of an ABI the filter has no section for
// gets. libseccomp's default is to kill the thread; the process is
// killed here, so that no half-dead process stays behind.
const badArch = unix.SECCOMP_RET_KILL_PROCESS

// Offsets in struct seccomp_data. The arguments are 64-bit words in the
// host's byte order; amd64 and arm64 are little-endian, so the low half
// of argument i comes first.
const (
	offNR   = 0
	offArch = 4
	offArgs = 16
)

// Compile makes the filter of this profile for a container on GOARCH
// goarch ("amd64", "arm64") whose bounding capability set is caps
// ("CAP_SYS_ADMIN", or without the prefix): rules whose includes.caps
// the set lacks, or whose excludes.caps it holds, are left out, as
// Docker does, so --cap-add SYS_ADMIN allows mount, unshare and the
// namespace flags of clone. Kernel conditions are checked against the
// running kernel. A profile with no default action and no rules gives
// a nil Filter, as Docker reads one.
//
// How rules combine, as libseccomp does: a rule whose action is the
// default one is dropped; a rule without argument conditions decides
// its syscalls, and later rules for them are ignored; rules with
// conditions are tried in profile order and the first that matches
// decides (conditions of one rule are ANDed, except that several
// conditions on one argument make one rule each, as runc does).
// Syscalls above the highest one the profile names on an ABI fail
// with ENOSYS rather than the default action, when that blocks (runc
// does this too), so that programs fall back from syscalls newer than
// the profile.
//
// The same profile, arch and capability set (in any order) give the
// same bytes. A nil Profile (Select's "none") gives a nil Filter.
func (p *Profile) Compile(goarch string, caps []string) (*Filter, error) {
	if p == nil || p.unconfined() {
		return nil, nil
	}
	plat, ok := byGOARCH[goarch]
	if !ok {
		return nil, fmt.Errorf("compile seccomp profile: no syscall table for %s", goarch)
	}
	rules, err := p.resolve(plat.native.native, caps)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp profile: %w", err)
	}
	def := ret(p.p.DefaultAction, p.p.DefaultErrnoRet)
	var sections []section
	for _, ab := range p.abis(plat.native, plat.subs) {
		i := slices.IndexFunc(sections, func(s section) bool { return s.audit == ab.audit })
		if i < 0 {
			sections = append(sections, section{audit: ab.audit})
			i = len(sections) - 1
		}
		sections[i].abis = append(sections[i].abis, ab)
	}
	c := &compiler{def: def, enosys: blocks(def), blocks: map[string]label{}, rets: map[uint32]label{}}
	for i := range sections {
		sections[i].segs = c.segments(sections[i].abis, rules)
	}
	raw, err := c.program(sections)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp profile: %w", err)
	}
	if len(raw) > maxInstructions {
		return nil, fmt.Errorf("compile seccomp profile: %d instructions, more than the kernel's %d", len(raw), maxInstructions)
	}
	f := &Filter{Program: make([]byte, 8*len(raw))}
	for i, r := range raw {
		b := f.Program[8*i:]
		binary.NativeEndian.PutUint16(b[0:], r.Op)
		b[2], b[3] = r.Jt, r.Jf
		binary.NativeEndian.PutUint32(b[4:], r.K)
	}
	for _, fl := range p.p.Flags {
		f.Flags |= flags[fl]
	}
	return f, nil
}

// blocks reports whether a default action refuses the call, so that
// syscalls unknown to the profile should rather get ENOSYS.
func blocks(def uint32) bool {
	return def != unix.SECCOMP_RET_ALLOW && def != unix.SECCOMP_RET_LOG
}

// abis are the ABIs the filter has sections for: the native one always
// (libseccomp's filters always hold it), then those of architectures,
// or of the archMap entry of the native arch, that have a table here.
func (p *Profile) abis(native *arch, subs []*arch) []*arch {
	want := p.p.Architectures
	for _, m := range p.p.ArchMap {
		if m.Arch == native.scmp {
			want = m.SubArches
		}
	}
	out := []*arch{native}
	for _, w := range want {
		for _, s := range subs {
			if s.scmp == w && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// rule is a profile rule that applies to this container.
type rule struct {
	names []string
	ret   uint32
	args  []specs.LinuxSeccompArg
}

// resolve applies includes and excludes, as moby's profile code does
// for Docker: excludes leave a rule out when any listed cap is held, the
// arch is listed or the kernel is that new; includes keep it only when
// every listed cap is held, the arch is listed and the kernel is new
// enough.
func (p *Profile) resolve(native string, caps []string) ([]rule, error) {
	held := map[string]bool{}
	for _, c := range caps {
		held[capName(c)] = true
	}
	var out []rule
	for _, sc := range p.p.Syscalls {
		ok, err := applies(sc, native, held)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		names := sc.Names
		if sc.Name != "" {
			names = []string{sc.Name}
		}
		out = append(out, rule{names: names, ret: ret(sc.Action, sc.ErrnoRet), args: sc.Args})
	}
	return out, nil
}

func capName(c string) string {
	c = strings.ToUpper(c)
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

func applies(sc *profiles.Syscall, native string, held map[string]bool) (bool, error) {
	if ex := sc.Excludes; ex != nil {
		if slices.Contains(ex.Arches, native) {
			return false, nil
		}
		for _, c := range ex.Caps {
			if held[capName(c)] {
				return false, nil
			}
		}
		if ex.MinKernel != nil {
			newer, err := kernelAtLeast(*ex.MinKernel)
			if err != nil || newer {
				return false, err
			}
		}
	}
	if in := sc.Includes; in != nil {
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, native) {
			return false, nil
		}
		for _, c := range in.Caps {
			if !held[capName(c)] {
				return false, nil
			}
		}
		if in.MinKernel != nil {
			newer, err := kernelAtLeast(*in.MinKernel)
			if err != nil || !newer {
				return false, err
			}
		}
	}
	return true, nil
}

// kernelRelease is uname -r; a variable so that tests can pretend.
var kernelRelease = sync.OnceValues(func() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
})

func kernelAtLeast(min profiles.KernelVersion) (bool, error) {
	rel, err := kernelRelease()
	if err != nil {
		return false, err
	}
	var major, minor uint64
	if _, err := fmt.Sscanf(rel, "%d.%d", &major, &minor); err != nil {
		return false, fmt.Errorf("kernel version %q: %w", rel, err)
	}
	return major > min.Kernel || major == min.Kernel && minor >= min.Major, nil
}

// section is the part of the filter for one seccomp_data.arch value:
// x86_64 and x32 share one, x32's numbers being those with
// x32SyscallBit.
type section struct {
	audit uint32
	abis  []*arch
	segs  []segment
}

// segment: the syscall numbers from lo up to the next segment's lo get
// decision d.
type segment struct {
	lo uint32
	d  *decision
}

// decision is what the filter does for a syscall: return ret, or, when
// conds is set, try those rules first.
type decision struct {
	ret   uint32
	conds []condRule
	// bits32: conds compare the low words only.
	bits32 bool
	// final: a rule without conditions decided it; later rules for
	// the syscall are ignored.
	final bool
	// k caches key: segments compares every decision with its
	// neighbour's, and formatting the conditions each time was most of
	// a compile.
	k string
}

type condRule struct {
	args []specs.LinuxSeccompArg
	ret  uint32
}

// key identifies equal decisions, which share code and merge into one
// segment when adjacent.
// Decisions are complete once segments sees them, so the key is made
// once.
func (d *decision) key() string {
	switch {
	case d.k != "":
	case len(d.conds) == 0:
		d.k = "ret " + strconv.FormatUint(uint64(d.ret), 16)
	default:
		d.k = fmt.Sprintf("conds %v %v else %#x", d.bits32, d.conds, d.ret)
	}
	return d.k
}

// same says whether a and b are equal decisions; most have no
// conditions and compare without their keys.
func (a *decision) same(b *decision) bool {
	if len(a.conds) == 0 && len(b.conds) == 0 {
		return a.ret == b.ret
	}
	return a.key() == b.key()
}

type compiler struct {
	def    uint32
	enosys bool
	a      asm
	blocks map[string]label // decision key -> code
	order  []*decision      // blocks in the order first used
	rets   map[uint32]label
	retOrd []uint32
}

// segments lays the decisions of one arch value's ABIs over the whole
// number space.
func (c *compiler) segments(abis []*arch, rules []rule) []segment {
	var segs []segment
	add := func(lo uint32, d *decision) {
		if n := len(segs); n > 0 && segs[n-1].d.same(d) {
			return
		}
		segs = append(segs, segment{lo, d})
	}
	defDec := &decision{ret: c.def}
	// The ranges of the arch value's number space: x86_64 below the
	// x32 bit, x32 from it on, or one ABI over everything.
	type span struct {
		lo, hi uint64 // hi exclusive
		ab     *arch
	}
	spans := []span{{0, 1 << 32, abis[0]}}
	if abis[0] == archX86_64 {
		spans = []span{{0, x32SyscallBit, archX86_64}, {x32SyscallBit, 1 << 32, nil}}
		if slices.Contains(abis, archX32) {
			spans[1].ab = archX32
		}
	}
	for _, sp := range spans {
		if sp.ab == nil {
			add(uint32(sp.lo), &decision{ret: badArch})
			continue
		}
		decs, last, named := c.decisions(sp.ab, rules)
		nrs := make([]uint32, 0, len(decs))
		for nr := range decs {
			nrs = append(nrs, nr)
		}
		slices.Sort(nrs)
		next := sp.lo
		for _, nr := range nrs {
			if uint64(nr) > next {
				add(uint32(next), defDec)
			}
			add(nr, decs[nr])
			next = uint64(nr) + 1
		}
		if named && c.enosys {
			if uint64(last) >= next {
				add(uint32(next), defDec)
			}
			next = uint64(last) + 1
			if next < sp.hi {
				add(uint32(next), &decision{ret: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)})
			}
		} else if next < sp.hi {
			add(uint32(next), defDec)
		}
	}
	return segs
}

// decisions are one ABI's syscalls that do not simply get the default
// action, and the highest syscall number the rules name.
func (c *compiler) decisions(ab *arch, rules []rule) (map[uint32]*decision, uint32, bool) {
	decs := map[uint32]*decision{}
	var last uint32
	named := false
	for _, r := range rules {
		for _, name := range r.names {
			nr, ok := ab.table[name]
			if !ok {
				continue // not a syscall of this ABI: skipped, as libseccomp runtimes do
			}
			if !named || nr > last {
				last, named = nr, true
			}
			if r.ret == c.def {
				continue
			}
			d := decs[nr]
			if d == nil {
				d = &decision{ret: c.def, bits32: ab.bits32}
				decs[nr] = d
			}
			switch {
			case d.final:
			case len(r.args) == 0:
				d.conds, d.ret, d.final = nil, r.ret, true
			default:
				d.conds = append(d.conds, splitArgs(r)...)
			}
		}
	}
	for nr, d := range decs {
		if !d.simplify(c.def) {
			delete(decs, nr)
		}
	}
	return decs, last, named
}

// splitArgs is runc's reading of a rule's conditions: ANDed, unless two
// of them test one argument, then one rule each (libseccomp can compare
// an argument once per rule).
func splitArgs(r rule) []condRule {
	seen := map[uint]bool{}
	for _, a := range r.args {
		if seen[a.Index] {
			out := make([]condRule, len(r.args))
			for i, a := range r.args {
				out[i] = condRule{args: []specs.LinuxSeccompArg{a}, ret: r.ret}
			}
			return out
		}
		seen[a.Index] = true
	}
	return []condRule{{args: r.args, ret: r.ret}}
}

// simplify drops conditions that always hold and rules that never
// match, and rules after one that always matches. It reports whether the
// decision still differs from def, the default action.
func (d *decision) simplify(def uint32) bool {
	var out []condRule
	for _, cr := range d.conds {
		var args []specs.LinuxSeccompArg
		never := false
		for _, a := range cr.args {
			switch classify(a, d.bits32) {
			case condNever:
				never = true
			case condTest:
				args = append(args, a)
			}
		}
		if never {
			continue
		}
		if len(args) == 0 {
			// Always matches: it is the fallback, and what follows
			// is unreachable.
			d.ret = cr.ret
			break
		}
		out = append(out, condRule{args: args, ret: cr.ret})
	}
	// Trailing rules whose action is the fallback's change nothing.
	for len(out) > 0 && out[len(out)-1].ret == d.ret {
		out = out[:len(out)-1]
	}
	d.conds = out
	return len(out) > 0 || d.ret != def
}
