package sandbox

import (
	"fmt"
	"io"
	"slices"

	"github.com/moby/sys/user"
)

// Credentials are the ids and home a container's process runs with.
type Credentials struct {
	UID, GID int
	// Groups are the supplementary groups: the primary group first (as
	// containerd sets them since CVE-2023-25173), then every group of
	// /etc/group that lists the user by name.
	Groups []int
	// Home is the passwd entry's home directory, else "/".
	Home string
}

// ResolveUser resolves docker's -u (name|uid[:group|gid], "" for root)
// through passwd and group, the container's /etc/passwd and /etc/group
// (either may be nil: then only numeric ids resolve). A name without an
// entry is an error; a number without one is taken as it is.
func ResolveUser(spec string, passwd, group io.Reader) (Credentials, error) {
	u, err := user.GetExecUser(spec, &user.ExecUser{Home: "/"}, passwd, group)
	if err != nil {
		return Credentials{}, fmt.Errorf("user %q: %w", spec, err)
	}
	groups := []int{u.Gid}
	for _, g := range u.Sgids {
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	home := u.Home
	if home == "" {
		home = "/"
	}
	return Credentials{UID: u.Uid, GID: u.Gid, Groups: groups, Home: home}, nil
}
