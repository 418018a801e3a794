package sandbox

import (
	"fmt"
	"slices"
	"strings"
)

// capNames are the kernel's capabilities by number (linux/capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// DefaultCapabilities are docker's 14: a container's bounding set, and
// the effective and permitted sets of a process running as uid 0 in it.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// capNumber finds a capability by name, as docker takes it: any case,
// with or without the "CAP_" prefix.
func capNumber(name string) (int, error) {
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if i := slices.Index(capNames, n); i >= 0 {
		return i, nil
	}
	return -1, fmt.Errorf("unknown capability: %q", name)
}

// AdjustCapabilities applies docker's --cap-add and --cap-drop to the
// defaults: "ALL" in add grants every capability, "ALL" in drop starts
// from none; a capability both added and dropped is added (docker lets
// --cap-add win over --cap-drop of the same name). Names are normalised
// to "CAP_X"; an unknown one is an error.
func AdjustCapabilities(add, drop []string) ([]string, error) {
	norm := func(list []string) (map[string]bool, bool, error) {
		set, all := map[string]bool{}, false
		for _, c := range list {
			if strings.EqualFold(c, "ALL") {
				all = true
				continue
			}
			i, err := capNumber(c)
			if err != nil {
				return nil, false, err
			}
			set[capNames[i]] = true
		}
		return set, all, nil
	}
	adds, addAll, err := norm(add)
	if err != nil {
		return nil, err
	}
	drops, dropAll, err := norm(drop)
	if err != nil {
		return nil, err
	}
	out := []string{} // none is not nil (the defaults)
	for _, c := range capNames {
		keep := slices.Contains(DefaultCapabilities, c) && !drops[c] && !dropAll
		if keep || addAll || adds[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// capMask turns names into the kernel's 64-bit set.
func capMask(names []string) (uint64, error) {
	var m uint64
	for _, n := range names {
		i, err := capNumber(n)
		if err != nil {
			return 0, err
		}
		m |= 1 << uint(i)
	}
	return m, nil
}
