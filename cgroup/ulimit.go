package cgroup

import (
	"fmt"
	"syscall"

	units "github.com/docker/go-units"
)

// Ulimit is one --ulimit: a setrlimit(2) resource with its soft and
// hard values (RLIM_INFINITY for -1, unlimited).
type Ulimit struct {
	Name     string `json:"name"` // nofile, nproc, core, ...
	Resource int    `json:"resource"`
	Soft     uint64 `json:"soft"`
	Hard     uint64 `json:"hard"`
}

// ParseUlimit reads NAME=SOFT[:HARD] (HARD defaults to SOFT), with
// docker's names and messages.
func ParseUlimit(s string) (Ulimit, error) {
	u, err := units.ParseUlimit(s)
	if err != nil {
		return Ulimit{}, err
	}
	r, err := u.GetRlimit()
	if err != nil {
		return Ulimit{}, err
	}
	return Ulimit{Name: u.Name, Resource: r.Type, Soft: r.Soft, Hard: r.Hard}, nil
}

// SetRlimits applies us to the calling process, which then executes the
// container's command (rlimits are inherited across exec). It must run
// before the process gives up root, which raising a hard limit needs.
// Go raises its own soft RLIMIT_NOFILE at start and puts the original
// back on exec unless the program sets the limit itself through
// syscall.Setrlimit (x/sys/unix's calls it), as here: the command gets
// the --ulimit, not Go's nor the caller's.
func SetRlimits(us []Ulimit) error {
	for _, u := range us {
		if err := syscall.Setrlimit(u.Resource, &syscall.Rlimit{Cur: u.Soft, Max: u.Hard}); err != nil {
			return fmt.Errorf("set ulimit %s=%d:%d: %w", u.Name, int64(u.Soft), int64(u.Hard), err)
		}
	}
	return nil
}
