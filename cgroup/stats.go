package cgroup

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Stats are a group's counters; a value the host does not keep is 0
// (a limit of -1 is none).
type Stats struct {
	Memory      int64 // bytes in use
	MemoryPeak  int64 // the most bytes in use so far
	MemoryLimit int64
	// OOMKills counts processes the kernel killed for the memory limit.
	OOMKills  int64
	Pids      int64 // tasks now
	PidsLimit int64
	// CPU is the CPU time used.
	CPU time.Duration
	// Throttled counts the periods in which the CPU quota stopped the
	// group.
	Throttled int64
}

// Stats reads the group's counters; it fails once the group is removed.
func (g *Group) Stats() (Stats, error) {
	var s Stats
	for _, d := range g.Dirs() {
		if _, err := os.Stat(d); err != nil {
			return s, fmt.Errorf("cgroup: stats: %w", err)
		}
	}
	if g.v2 {
		d := g.dirs[""]
		s.Memory = readInt(d, "memory.current")
		s.MemoryPeak = readInt(d, "memory.peak")
		s.MemoryLimit = readInt(d, "memory.max")
		s.OOMKills = readKey(d, "memory.events", "oom_kill")
		s.Pids = readInt(d, "pids.current")
		s.PidsLimit = readInt(d, "pids.max")
		s.CPU = time.Duration(readKey(d, "cpu.stat", "usage_usec")) * time.Microsecond
		s.Throttled = readKey(d, "cpu.stat", "nr_throttled")
		return s, nil
	}
	if d, ok := g.dirs["memory"]; ok {
		s.Memory = readInt(d, "memory.usage_in_bytes")
		s.MemoryPeak = readInt(d, "memory.max_usage_in_bytes")
		s.MemoryLimit = readInt(d, "memory.limit_in_bytes")
		s.OOMKills = readKey(d, "memory.oom_control", "oom_kill")
	}
	if d, ok := g.dirs["pids"]; ok {
		s.Pids = readInt(d, "pids.current")
		s.PidsLimit = readInt(d, "pids.max")
	}
	if d, ok := g.dirs["cpuacct"]; ok {
		s.CPU = time.Duration(readInt(d, "cpuacct.usage"))
	}
	if d, ok := g.dirs["cpu"]; ok {
		s.Throttled = readKey(d, "cpu.stat", "nr_throttled")
	}
	return s, nil
}

// readInt reads a file holding one number; "max" is -1.
func readInt(dir, file string) int64 {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0
	}
	v := strings.TrimSpace(string(b))
	if v == "max" {
		return -1
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// readKey reads KEY's value from a file of "KEY VALUE" lines.
func readKey(dir, file, key string) int64 {
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
