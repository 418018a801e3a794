package cgroup

import (
	"fmt"
	"reflect"
	"runtime"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		f    Flags
		want Limits
	}{
		{Flags{}, Limits{}},
		{Flags{Memory: "512m"}, Limits{Memory: 512 << 20}},
		{Flags{Memory: "1g", MemorySwap: "2g"}, Limits{Memory: 1 << 30, MemorySwap: 2 << 30}},
		{Flags{Memory: "1G", MemorySwap: "-1"}, Limits{Memory: 1 << 30, MemorySwap: -1}},
		{Flags{Memory: "64MiB", MemorySwap: "64m"}, Limits{Memory: 64 << 20, MemorySwap: 64 << 20}},
		{Flags{CPUs: "1.5"}, Limits{NanoCPUs: 1.5e9}},
		{Flags{CPUs: "0.01"}, Limits{NanoCPUs: 1e7}},
		{Flags{PidsLimit: "20"}, Limits{PidsLimit: 20}},
		{Flags{PidsLimit: "-1"}, Limits{}},
		{Flags{Ulimit: []string{"nofile=100:200", "core=0", "nofile=300:400"}}, Limits{Ulimits: []Ulimit{
			{Name: "core", Resource: syscall.RLIMIT_CORE, Soft: 0, Hard: 0},
			{Name: "nofile", Resource: syscall.RLIMIT_NOFILE, Soft: 300, Hard: 400}}}},
		{Flags{Ulimit: []string{"stack=-1"}}, Limits{Ulimits: []Ulimit{
			{Name: "stack", Resource: syscall.RLIMIT_STACK, Soft: ^uint64(0), Hard: ^uint64(0)}}}},
	} {
		got, err := Parse(tc.f)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%+v) = %+v, %v; want %+v", tc.f, got, err, tc.want)
		}
	}
	n := runtime.NumCPU()
	cpuRange := fmt.Sprintf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	for _, tc := range []struct {
		f   Flags
		err string
	}{
		{Flags{Memory: "512x"}, `invalid argument "512x" for "-m, --memory" flag: invalid suffix: 'x'`},
		{Flags{Memory: "1k"}, "Minimum memory limit allowed is 6MB"},
		{Flags{MemorySwap: "1g"}, "You should always set the Memory limit when using Memoryswap limit, see usage"},
		{Flags{Memory: "1g", MemorySwap: "512m"}, "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{Flags{Memory: "1g", MemorySwap: "lots"}, `invalid argument "lots" for "--memory-swap" flag: invalid size: 'lots'`},
		{Flags{CPUs: "one"}, `invalid argument "one" for "--cpus" flag: failed to parse one as a rational number`},
		{Flags{CPUs: "0.0000000001"}, `invalid argument "0.0000000001" for "--cpus" flag: value is too precise`},
		{Flags{CPUs: "0.001"}, cpuRange},
		{Flags{CPUs: fmt.Sprint(n + 1)}, cpuRange},
		{Flags{PidsLimit: "x"}, `invalid argument "x" for "--pids-limit" flag: strconv.ParseInt: parsing "x": invalid syntax`},
		{Flags{Ulimit: []string{"nofile"}}, "invalid ulimit argument: nofile"},
		{Flags{Ulimit: []string{"files=1"}}, "invalid ulimit type: files"},
		{Flags{Ulimit: []string{"nofile=200:100"}}, "ulimit soft limit must be less than or equal to hard limit: 200 > 100"},
	} {
		if _, err := Parse(tc.f); err == nil || err.Error() != tc.err {
			t.Errorf("Parse(%+v): error %v, want %q", tc.f, err, tc.err)
		}
	}
}

func TestLimitsDerived(t *testing.T) {
	for _, tc := range []struct {
		l          Limits
		swap, quot int64
		group      bool
	}{
		{Limits{}, 0, 0, false},
		{Limits{Ulimits: []Ulimit{{Name: "nofile"}}}, 0, 0, false},
		// docker: --memory alone allows as much swap as memory.
		{Limits{Memory: 100}, 200, 0, true},
		{Limits{Memory: 100, MemorySwap: 100}, 100, 0, true},
		{Limits{Memory: 100, MemorySwap: -1}, -1, 0, true},
		{Limits{NanoCPUs: 1.5e9}, 0, 150000, true},
		{Limits{NanoCPUs: 1e7}, 0, 1000, true},
		{Limits{PidsLimit: 1}, 0, 0, true},
	} {
		if s, q, g := tc.l.swapLimit(), tc.l.cpuQuota(), tc.l.NeedsGroup(); s != tc.swap || q != tc.quot || g != tc.group {
			t.Errorf("%+v: swap %d, quota %d, group %v; want %d, %d, %v", tc.l, s, q, g, tc.swap, tc.quot, tc.group)
		}
	}
}
