package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/lfs-dev/lfs/cgroup"
	"github.com/lfs-dev/lfs/network"
	"github.com/lfs-dev/lfs/sandbox"
	"github.com/lfs-dev/lfs/seccomp"
	"github.com/urfave/cli/v2"
)

// The security, network and limit flags of lfs run and lfs create.

// securityFlags, networkFlags and limitFlags are added to run's flags.
func securityFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "cap-add", Usage: "add a Linux capability (`CAP`, with or without CAP_; ALL for every one)"},
		&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a Linux capability (`CAP`; ALL for every one)"},
		&cli.StringSliceFlag{Name: "security-opt", Usage: "`OPT`: no-new-privileges[=true|false], seccomp=PROFILE.json|unconfined|builtin"},
		&cli.BoolFlag{Name: "privileged", Usage: "every capability, no seccomp filter, /proc and /sys unmasked, /sys writable, the host's devices (see above)"},
	}
}

func networkFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a container's port: `PORT` is [IP:][HOST:]CTR[/udp] (on 127.0.0.1 unless IP is given; slirp4netns)"},
		&cli.StringSliceFlag{Name: "add-host", Usage: "add `NAME:IP` (or NAME:host-gateway) to /etc/hosts"},
		&cli.StringSliceFlag{Name: "dns", Usage: "nameserver `IP` in /etc/resolv.conf"},
		&cli.StringSliceFlag{Name: "dns-search", Usage: "search `DOMAIN` in /etc/resolv.conf (. for none)"},
		&cli.StringSliceFlag{Name: "dns-option", Usage: "`OPTION` in /etc/resolv.conf"},
	}
}

func limitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit: `BYTES` with a unit (512m, 1g)"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap: `BYTES`, or -1 for unlimited swap (default: twice --memory)"},
		&cli.StringFlag{Name: "cpus", Usage: "CPU time per wall time: `N` CPUs (1.5)"},
		&cli.StringFlag{Name: "pids-limit", Usage: "most processes and threads: `N` (-1 for none)"},
		&cli.StringSliceFlag{Name: "ulimit", Usage: "resource limit: `NAME=SOFT[:HARD]` (nofile=1024:2048)"},
	}
}

// security is what the security flags ask of a container.
type security struct {
	// caps are the container's capabilities (Spec.Capabilities); nil is
	// docker's default set.
	caps       []string
	privileged bool
	noNewPrivs bool
	// profile is the seccomp profile, nil for none.
	profile *seccomp.Profile
}

// parseSecurity reads --cap-add, --cap-drop, --privileged and
// --security-opt with docker's rules: --privileged has every capability
// and no seccomp profile, whatever else was asked; a profile file is read
// (and checked) now, as docker's CLI does, so a created container does
// not depend on it.
func parseSecurity(c *cli.Context) (security, error) {
	sec := security{privileged: c.Bool("privileged")}
	profile := ""
	for _, opt := range c.StringSlice("security-opt") {
		// docker still takes the old KEY:VALUE form.
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			k, v, ok = strings.Cut(opt, ":")
		}
		switch {
		case k == "no-new-privileges":
			b := true
			if ok {
				var err error
				if b, err = strconv.ParseBool(v); err != nil {
					return sec, fmt.Errorf("invalid --security-opt %q: no-new-privileges takes true or false", opt)
				}
			}
			sec.noNewPrivs = b
		case k == "seccomp" && ok && v != "":
			profile = v
		case k == "apparmor" && v == "unconfined", k == "label" && v == "disable":
			// lfs applies no AppArmor or SELinux profile: nothing to
			// lift.
		case k == "apparmor" || k == "label":
			return sec, fmt.Errorf("invalid --security-opt %q: lfs applies no AppArmor or SELinux profiles", opt)
		default:
			return sec, fmt.Errorf("invalid --security-opt: %q", opt)
		}
	}
	var err error
	if sec.privileged {
		sec.caps, err = sandbox.AdjustCapabilities([]string{"ALL"}, nil)
	} else if add, drop := c.StringSlice("cap-add"), c.StringSlice("cap-drop"); len(add)+len(drop) > 0 {
		sec.caps, err = sandbox.AdjustCapabilities(add, drop)
	}
	if err != nil {
		return sec, err
	}
	sec.profile, err = seccomp.Select(profile, sec.privileged)
	return sec, err
}

// compile starts compiling the seccomp filter (about a millisecond for
// docker's profile) and returns what waits for it, so that the compile
// overlaps with the container's record and mount.
func (sec security) compile() func() (*seccomp.Filter, error) {
	if sec.profile == nil {
		return func() (*seccomp.Filter, error) { return nil, nil }
	}
	caps := sec.caps
	if caps == nil {
		caps = sandbox.DefaultCapabilities
	}
	type result struct {
		f   *seccomp.Filter
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := sec.profile.Compile(runtime.GOARCH, caps)
		done <- result{f, err}
	}()
	return func() (*seccomp.Filter, error) {
		r := <-done
		done <- r
		return r.f, r.err
	}
}

// parseNetwork reads --network, -p, --add-host and --dns*.
func parseNetwork(c *cli.Context) (network.Config, error) {
	return network.Parse(network.Flags{Network: c.String("network"), Publish: c.StringSlice("publish"),
		AddHost: c.StringSlice("add-host"), DNS: c.StringSlice("dns"), DNSSearch: c.StringSlice("dns-search"),
		DNSOption: c.StringSlice("dns-option")})
}

// parseLimits reads -m, --memory-swap, --cpus, --pids-limit and
// --ulimit.
func parseLimits(c *cli.Context) (cgroup.Limits, error) {
	return cgroup.Parse(cgroup.Flags{Memory: c.String("memory"), MemorySwap: c.String("memory-swap"),
		CPUs: c.String("cpus"), PidsLimit: c.String("pids-limit"), Ulimit: c.StringSlice("ulimit")})
}

// runSpec is what a container's record keeps (Container.Spec): the
// sandbox's Spec, its fields at the top level as before, and what lfs
// sets up around the sandbox. A record from before Net and Limits reads
// as the host's network (or none) without limits.
type runSpec struct {
	sandbox.Spec
	Net    *network.Config `json:"net,omitempty"`
	Limits *cgroup.Limits  `json:"limits,omitempty"`
}

// portBinding and ulimit are docker's shapes in HostConfig.
type portBinding struct {
	HostIp   string
	HostPort string
}

type ulimit struct {
	Name string
	Soft int64
	Hard int64
}

// runHostConfig fills in what docker's HostConfig says of the security,
// network and limit flags, from a container's record.
func runHostConfig(raw []byte, hc *hostConfig) {
	var rs runSpec
	if json.Unmarshal(raw, &rs) != nil {
		return
	}
	hc.Privileged = rs.Privileged
	hc.SecurityOpt = []string{}
	if rs.NoNewPrivileges {
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges")
	}
	if rs.Seccomp == nil && !rs.Privileged {
		hc.SecurityOpt = append(hc.SecurityOpt, "seccomp=unconfined")
	}
	hc.PortBindings, hc.ExtraHosts, hc.Dns = map[string][]portBinding{}, []string{}, []string{}
	if n := rs.Net; n != nil {
		for _, p := range n.Ports {
			key := fmt.Sprintf("%d/%s", p.CtrPort, p.Proto)
			port := ""
			if p.HostPort != 0 {
				port = strconv.Itoa(int(p.HostPort))
			}
			hc.PortBindings[key] = append(hc.PortBindings[key], portBinding{HostIp: p.HostIP.String(), HostPort: port})
		}
		for _, h := range n.ExtraHosts {
			ip := h.IP.String()
			if h.Gateway {
				ip = network.HostGateway
			}
			hc.ExtraHosts = append(hc.ExtraHosts, h.Name+":"+ip)
		}
		for _, d := range n.DNS {
			hc.Dns = append(hc.Dns, d.String())
		}
	}
	if l := rs.Limits; l != nil {
		hc.Memory, hc.MemorySwap, hc.NanoCpus = l.Memory, l.MemorySwap, l.NanoCPUs
		if l.PidsLimit > 0 {
			hc.PidsLimit = &l.PidsLimit
		}
	}
	hc.Ulimits = []ulimit{}
	for _, u := range rs.Ulimits {
		hc.Ulimits = append(hc.Ulimits, ulimit{Name: u.Name, Soft: int64(u.Soft), Hard: int64(u.Hard)})
	}
}
