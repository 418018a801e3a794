package cgroup

import (
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
)

// Limits are a container's resource limits, in docker's terms.
type Limits struct {
	// Memory is the memory limit in bytes; 0 is none.
	Memory int64 `json:"memory,omitempty"`
	// MemorySwap is docker's --memory-swap: memory plus swap, in bytes;
	// -1 is unlimited swap; 0 (unset) with Memory is as much swap as
	// memory. Equal to Memory: no swap.
	MemorySwap int64 `json:"memorySwap,omitempty"`
	// NanoCPUs is --cpus × 10⁹: the CPU time per wall time, as a quota
	// of a 100 ms period.
	NanoCPUs int64 `json:"nanoCPUs,omitempty"`
	// PidsLimit is the most tasks (processes and threads) at once; 0 or
	// less is none.
	PidsLimit int64 `json:"pidsLimit,omitempty"`
	// Ulimits are setrlimit(2) limits, which are not cgroup limits: the
	// container's first process sets them before it executes the
	// command (SetRlimits).
	Ulimits []Ulimit `json:"ulimits,omitempty"`
}

// Flags are the limit flags of lfs run and lfs create, as given.
type Flags struct {
	Memory     string   // -m, --memory: 512m, 1g, ...
	MemorySwap string   // --memory-swap: as Memory, or -1
	CPUs       string   // --cpus: a decimal, 1.5
	PidsLimit  string   // --pids-limit: N, 0 or -1 for none
	Ulimit     []string // --ulimit: NAME=SOFT[:HARD]
}

// minMemory is docker's smallest memory limit.
const minMemory = 6 << 20

// Parse checks the flags and returns the limits they set, with docker's
// messages for docker's mistakes.
func Parse(f Flags) (Limits, error) {
	var l Limits
	var err error
	flagErr := func(v, name string, err error) error {
		return fmt.Errorf("invalid argument %q for %q flag: %w", v, name, err)
	}
	if f.Memory != "" {
		if l.Memory, err = units.RAMInBytes(f.Memory); err != nil {
			return l, flagErr(f.Memory, "-m, --memory", err)
		}
		if l.Memory > 0 && l.Memory < minMemory {
			return l, errors.New("Minimum memory limit allowed is 6MB")
		}
	}
	switch f.MemorySwap {
	case "":
	case "-1":
		l.MemorySwap = -1
	default:
		if l.MemorySwap, err = units.RAMInBytes(f.MemorySwap); err != nil {
			return l, flagErr(f.MemorySwap, "--memory-swap", err)
		}
	}
	if l.MemorySwap != 0 && l.Memory <= 0 {
		return l, errors.New("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if l.MemorySwap > 0 && l.MemorySwap < l.Memory {
		return l, errors.New("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if f.CPUs != "" {
		if l.NanoCPUs, err = parseCPUs(f.CPUs); err != nil {
			return l, flagErr(f.CPUs, "--cpus", err)
		}
		n := runtime.NumCPU()
		if l.NanoCPUs < 0 || l.NanoCPUs > int64(n)*1e9 || (l.NanoCPUs > 0 && l.NanoCPUs < 1e7) {
			return l, fmt.Errorf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
		}
	}
	if f.PidsLimit != "" {
		if l.PidsLimit, err = strconv.ParseInt(f.PidsLimit, 10, 64); err != nil {
			return l, flagErr(f.PidsLimit, "--pids-limit", err)
		}
		if l.PidsLimit < 0 {
			l.PidsLimit = 0 // docker's -1: unlimited
		}
	}
	for _, s := range f.Ulimit {
		u, err := ParseUlimit(s)
		if err != nil {
			return l, err
		}
		// A later --ulimit of the same name replaces an earlier one.
		l.Ulimits = slicesDeleteName(l.Ulimits, u.Name)
		l.Ulimits = append(l.Ulimits, u)
	}
	return l, nil
}

func slicesDeleteName(us []Ulimit, name string) []Ulimit {
	out := us[:0]
	for _, u := range us {
		if u.Name != name {
			out = append(out, u)
		}
	}
	return out
}

// parseCPUs reads a decimal number of CPUs into nano-CPUs, exactly.
func parseCPUs(s string) (int64, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, fmt.Errorf("failed to parse %v as a rational number", s)
	}
	r.Mul(r, big.NewRat(1e9, 1))
	if !r.IsInt() {
		return 0, errors.New("value is too precise")
	}
	return r.Num().Int64(), nil
}

// NeedsGroup reports whether l sets a limit that takes a cgroup.
func (l Limits) NeedsGroup() bool {
	return l.Memory > 0 || l.NanoCPUs > 0 || l.PidsLimit > 0
}

// flags names the flags that set l's cgroup limits, for messages.
func (l Limits) flags() string {
	var f []string
	if l.Memory > 0 {
		f = append(f, "--memory")
	}
	if l.MemorySwap != 0 {
		f = append(f, "--memory-swap")
	}
	if l.NanoCPUs > 0 {
		f = append(f, "--cpus")
	}
	if l.PidsLimit > 0 {
		f = append(f, "--pids-limit")
	}
	return strings.Join(f, ", ")
}

// swapLimit is the memory+swap limit in bytes, -1 for none, or 0 for
// not set: docker's --memory-swap, by default twice --memory.
func (l Limits) swapLimit() int64 {
	switch {
	case l.Memory <= 0:
		return 0
	case l.MemorySwap == 0:
		return 2 * l.Memory
	}
	return l.MemorySwap
}

// cpuQuota is the quota in µs of a cpuPeriod-µs period for NanoCPUs.
func (l Limits) cpuQuota() int64 { return l.NanoCPUs * cpuPeriod / 1e9 }

// cpuPeriod is docker's CFS period, 100 ms.
const cpuPeriod = 100000
