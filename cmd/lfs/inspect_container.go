package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"time"

	"github.com/lfs-dev/lfs/container"
	"github.com/lfs-dev/lfs/sandbox"
)

// containerInspect is the part of docker's container inspect shape that
// lfs knows.
type containerInspect struct {
	Id          string
	Created     string
	Path        string
	Args        []string
	State       containerState
	Image       string
	Name        string
	Driver      string
	GraphDriver graphDriver
	Mounts      []mountPoint
	HostConfig  hostConfig
	Config      containerConfig
}

// mountPoint is one entry of docker's .Mounts.
type mountPoint struct {
	Type        string
	Source      string
	Destination string
	Mode        string
	RW          bool
	Propagation string
}

type hostConfig struct {
	Binds          []string
	Tmpfs          map[string]string
	ReadonlyRootfs bool
	Init           bool
	NetworkMode    string
	// The security, network and limit flags (runHostConfig).
	Privileged   bool
	SecurityOpt  []string
	PortBindings map[string][]portBinding
	ExtraHosts   []string
	Dns          []string
	Memory       int64
	MemorySwap   int64
	NanoCpus     int64
	PidsLimit    *int64
	Ulimits      []ulimit
}

type containerState struct {
	Status     string
	Running    bool
	Pid        int
	ExitCode   int
	StartedAt  string
	FinishedAt string
}

type containerConfig struct {
	Hostname   string
	User       string
	Env        []string
	Cmd        []string
	Image      string
	WorkingDir string
	Tty        bool
}

func inspectContainer(ct container.Container) containerInspect {
	st := ct.Status()
	out := containerInspect{Id: ct.ID, Created: ct.Created.Format(time.RFC3339Nano), Args: []string{},
		Image: string(ct.Image), Name: "/" + ct.Name, Driver: "lfs",
		State: containerState{Status: string(st), Running: st == container.StateRunning, ExitCode: ct.ExitCode,
			StartedAt: "0001-01-01T00:00:00Z", FinishedAt: "0001-01-01T00:00:00Z"},
		GraphDriver: graphDriver{Name: "lfs", Data: map[string]string{
			"UpperDir": ct.Upper(), "WorkDir": ct.Work(), "MergedDir": filepath.Join(ct.Dir, "rootfs"),
		}},
		Config: containerConfig{Image: ct.ImageRef, Cmd: ct.Command},
	}
	if ct.Mountpoint != "" {
		out.GraphDriver.Data["MergedDir"] = ct.Mountpoint
	}
	if st == container.StateRunning {
		out.State.Pid = ct.Init()
	}
	if len(ct.Command) > 0 {
		out.Path, out.Args = ct.Command[0], ct.Command[1:]
	}
	if !ct.Started.IsZero() {
		out.State.StartedAt = ct.Started.Format(time.RFC3339Nano)
	}
	if !ct.Finished.IsZero() {
		out.State.FinishedAt = ct.Finished.Format(time.RFC3339Nano)
	}
	var spec sandbox.Spec
	if json.Unmarshal(ct.Spec, &spec) == nil {
		out.Config.Hostname, out.Config.User, out.Config.Env, out.Config.WorkingDir = spec.Hostname, spec.User, spec.Env, spec.Cwd
		out.Config.Tty = spec.Terminal
		out.HostConfig = hostConfig{ReadonlyRootfs: spec.ReadOnly, Init: spec.Init, NetworkMode: string(spec.Network)}
		if out.HostConfig.NetworkMode == "" {
			out.HostConfig.NetworkMode = string(sandbox.NetworkHost)
		}
		runHostConfig(ct.Spec, &out.HostConfig)
		out.Mounts = []mountPoint{}
		for _, m := range spec.Mounts {
			mp := mountPoint{Type: m.Type, Source: m.Source, Destination: m.Target, RW: !m.ReadOnly, Propagation: "rprivate"}
			if m.Type == "tmpfs" {
				mp.Propagation = ""
				if out.HostConfig.Tmpfs == nil {
					out.HostConfig.Tmpfs = map[string]string{}
				}
				out.HostConfig.Tmpfs[m.Target] = strings.Join(m.Options, ",")
			} else if !m.ReadOnly {
				out.HostConfig.Binds = append(out.HostConfig.Binds, m.Source+":"+m.Target)
			} else {
				mp.Mode = "ro"
				out.HostConfig.Binds = append(out.HostConfig.Binds, m.Source+":"+m.Target+":ro")
			}
			out.Mounts = append(out.Mounts, mp)
		}
	}
	return out
}
