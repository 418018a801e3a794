package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Profile is a seccomp profile in Docker's JSON format: a default action,
// the architectures (or an archMap), and rules that name syscalls, an
// action and argument conditions, each rule possibly conditioned on the
// container's capabilities, the architecture and the kernel version
// (includes/excludes). A Profile is checked when it is made; Compile
// turns it into a Filter for one architecture and capability set.
type Profile struct {
	p profiles.Seccomp
}

// DefaultProfile is Docker's default profile, from moby's own Go source
// of it (github.com/moby/profiles/seccomp), so it is the same profile
// as Docker's of that version.
func DefaultProfile() *Profile {
	return &Profile{p: *profiles.DefaultProfile()}
}

// LoadProfile reads a profile file (--security-opt seccomp=PATH). The
// error names the file and the first problem in it, on one line.
func LoadProfile(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load seccomp profile: %w", err)
	}
	p, err := ParseProfile(data)
	if err != nil {
		return nil, fmt.Errorf("load seccomp profile %s: %w", path, err)
	}
	return p, nil
}

// ParseProfile parses a profile's JSON and checks it: actions, operators,
// argument indexes, errno values, architecture names and flags.
// Unknown syscall names are not errors (they are skipped at Compile, per
// architecture, as libseccomp-based runtimes do), nor are unknown
// fields, which Docker ignores too.
func ParseProfile(data []byte) (*Profile, error) {
	var p Profile
	if err := json.Unmarshal(data, &p.p); err != nil {
		return nil, jsonError(data, err)
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return &p, nil
}

// MarshalJSON gives the profile in Docker's format.
func (p *Profile) MarshalJSON() ([]byte, error) { return json.Marshal(&p.p) }

// jsonError says where in data a decoding error is, as line and column.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset is just past the bad byte.
		return fmt.Errorf("%s: %s", position(data, syn.Offset-1), syn.Error())
	case errors.As(err, &typ):
		// Offset is just past the value; Field names embedded Go
		// types (LinuxSyscall) between the JSON keys, all lower case.
		var path []string
		for _, k := range strings.Split(typ.Field, ".") {
			if k != "" && !unicode.IsUpper(rune(k[0])) {
				path = append(path, k)
			}
		}
		return fmt.Errorf("%s: %s: a JSON %s where %s belongs", position(data, typ.Offset), strings.Join(path, "."), typ.Value, typ.Type)
	}
	return err
}

func position(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// unconfined: Docker's reading of a profile with no default action and
// no rules (`{}`): seccomp off.
func (p *Profile) unconfined() bool {
	return p.p.DefaultAction == "" && len(p.p.Syscalls) == 0
}

var actions = map[specs.LinuxSeccompAction]uint32{
	specs.ActKill:        unix.SECCOMP_RET_KILL_THREAD, // libseccomp's SCMP_ACT_KILL
	specs.ActKillThread:  unix.SECCOMP_RET_KILL_THREAD,
	specs.ActKillProcess: unix.SECCOMP_RET_KILL_PROCESS,
	specs.ActTrap:        unix.SECCOMP_RET_TRAP,
	specs.ActErrno:       unix.SECCOMP_RET_ERRNO,
	specs.ActTrace:       unix.SECCOMP_RET_TRACE,
	specs.ActAllow:       unix.SECCOMP_RET_ALLOW,
	specs.ActLog:         unix.SECCOMP_RET_LOG,
}

var operators = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true,
	specs.OpEqualTo: true, specs.OpGreaterEqual: true, specs.OpGreaterThan: true,
	specs.OpMaskedEqual: true,
}

var flags = map[specs.LinuxSeccompFlag]uint{
	specs.LinuxSeccompFlagLog:       unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow: unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
}

// ret is the kernel's return value for an action with its errno (or
// TRACE's message): EPERM when none is given, as runc does.
func ret(action specs.LinuxSeccompAction, errno *uint) uint32 {
	r := actions[action]
	if r == unix.SECCOMP_RET_ERRNO || r == unix.SECCOMP_RET_TRACE {
		e := uint32(unix.EPERM)
		if errno != nil {
			e = uint32(*errno)
		}
		r |= e
	}
	return r
}

// checkAction checks an action and its errno; where says which one.
func checkAction(where string, action specs.LinuxSeccompAction, errno *uint) error {
	if action == specs.ActNotify {
		return fmt.Errorf("%s: %s needs a seccomp agent (listenerPath), which lfs does not support", where, action)
	}
	r, ok := actions[action]
	if !ok {
		return fmt.Errorf("%s: unknown action %q", where, action)
	}
	if errno == nil {
		return nil
	}
	if r != unix.SECCOMP_RET_ERRNO && r != unix.SECCOMP_RET_TRACE {
		return fmt.Errorf("%s: an errno is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not %s", where, action)
	}
	// A wider value would be cut to 16 bits by the kernel's encoding,
	// and could turn into another action's value.
	if *errno > unix.SECCOMP_RET_DATA {
		return fmt.Errorf("%s: errno %d is out of range (at most %d)", where, *errno, unix.SECCOMP_RET_DATA)
	}
	return nil
}

func (p *Profile) check() error {
	s := &p.p
	if p.unconfined() {
		return nil
	}
	if s.DefaultAction == "" {
		return errors.New("no defaultAction")
	}
	if err := checkAction("defaultAction", s.DefaultAction, s.DefaultErrnoRet); err != nil {
		return err
	}
	if s.ListenerPath != "" {
		return errors.New("listenerPath: seccomp agents are not supported")
	}
	if len(s.Architectures) != 0 && len(s.ArchMap) != 0 {
		return errors.New("both architectures and archMap are given: use one")
	}
	for _, a := range s.Architectures {
		if !scmpArches[a] {
			return fmt.Errorf("architectures: unknown architecture %q", a)
		}
	}
	for i, m := range s.ArchMap {
		for _, a := range append([]specs.Arch{m.Arch}, m.SubArches...) {
			if !scmpArches[a] {
				return fmt.Errorf("archMap[%d]: unknown architecture %q", i, a)
			}
		}
	}
	for _, f := range s.Flags {
		if _, ok := flags[f]; !ok {
			return fmt.Errorf("flags: unsupported flag %q", f)
		}
	}
	for i, sc := range s.Syscalls {
		if err := checkRule(sc); err != nil {
			return fmt.Errorf("syscalls[%d]%s: %w", i, ruleName(sc), err)
		}
	}
	return nil
}

func ruleName(sc *profiles.Syscall) string {
	if sc == nil {
		return ""
	}
	names := sc.Names
	if sc.Name != "" {
		names = []string{sc.Name}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(" (%s)", names[0])
	}
	return fmt.Sprintf(" (%s, ...)", names[0])
}

func checkRule(sc *profiles.Syscall) error {
	if sc == nil {
		return errors.New("null rule")
	}
	if sc.Name != "" && len(sc.Names) != 0 {
		return errors.New("both name and names are given: use one")
	}
	if sc.Name == "" && len(sc.Names) == 0 {
		return errors.New("no syscall names")
	}
	if err := checkAction("action", sc.Action, sc.ErrnoRet); err != nil {
		return err
	}
	for j, a := range sc.Args {
		if a.Index > 5 {
			return fmt.Errorf("args[%d]: index %d is out of range (a syscall has 6 arguments, 0 to 5)", j, a.Index)
		}
		if !operators[a.Op] {
			return fmt.Errorf("args[%d]: unknown operator %q", j, a.Op)
		}
	}
	for _, f := range []struct {
		name string
		f    *profiles.Filter
	}{{"includes", sc.Includes}, {"excludes", sc.Excludes}} {
		if f.f == nil {
			continue
		}
		for _, a := range f.f.Arches {
			if !nativeNames[a] {
				return fmt.Errorf("%s.arches: unknown architecture %q", f.name, a)
			}
		}
		for _, c := range f.f.Caps {
			if !strings.HasPrefix(strings.ToUpper(c), "CAP_") {
				return fmt.Errorf("%s.caps: %q is not a capability name (CAP_...)", f.name, c)
			}
		}
	}
	return nil
}
