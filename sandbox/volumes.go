package sandbox

import (
	"encoding/csv"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
)

// ErrVolume is a -v, --mount or --tmpfs value lfs refuses.
var ErrVolume = errors.New("invalid mount")

func volumeErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrVolume, fmt.Sprintf(format, args...))
}

// ParseVolume reads docker's -v HOST:CTR[:OPTS]: HOST absolute (or
// starting with "." and taken from the working directory cwd), CTR
// absolute, OPTS a comma list of ro, rw, z, Z, private and rprivate (lfs's
// mounts never propagate). Named and anonymous volumes are refused: lfs
// has no volume store.
func ParseVolume(v, cwd string) (Mount, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		if len(parts) == 1 {
			return Mount{}, volumeErr("%s: anonymous volumes are not supported (use --tmpfs or a bind HOST:%s)", v, v)
		}
		return Mount{}, volumeErr("invalid volume specification: '%s'", v)
	}
	src, dst := parts[0], parts[1]
	switch {
	case strings.HasPrefix(src, "."):
		src = filepath.Join(cwd, src)
	case !strings.HasPrefix(src, "/"):
		return Mount{}, volumeErr("%s: named volumes are not supported (the source must be an absolute host path)", src)
	}
	m := Mount{Type: "bind", Source: filepath.Clean(src), Target: dst}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				m.ReadOnly = true
			case "rw":
				m.ReadOnly = false
			case "z", "Z", "private", "rprivate", "nocopy":
			case "shared", "rshared", "slave", "rslave":
				return Mount{}, volumeErr("%s: propagation %s is not supported (lfs's mounts are private)", v, o)
			default:
				return Mount{}, volumeErr("invalid mode: %s", o)
			}
		}
	}
	return m, checkTarget(m)
}

// ParseMount reads docker's --mount: comma-separated key=value pairs,
// type=bind (source, target, readonly) or type=tmpfs (target,
// tmpfs-size, tmpfs-mode, readonly).
func ParseMount(v, cwd string) (Mount, error) {
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return Mount{}, volumeErr("--mount %s: %v", v, err)
	}
	m := Mount{Type: "volume"}
	for _, f := range fields {
		k, val, hasVal := strings.Cut(f, "=")
		switch strings.ToLower(k) {
		case "type":
			m.Type = val
		case "source", "src":
			m.Source = val
		case "target", "destination", "dst":
			m.Target = val
		case "readonly", "ro":
			if !hasVal {
				m.ReadOnly = true
				break
			}
			b, err := strconv.ParseBool(val)
			if err != nil {
				return Mount{}, volumeErr("invalid value for %s: %s", k, val)
			}
			m.ReadOnly = b
		case "bind-propagation":
			if val != "private" && val != "rprivate" {
				return Mount{}, volumeErr("bind-propagation %s is not supported (lfs's mounts are private)", val)
			}
		case "consistency", "bind-nonrecursive":
		case "tmpfs-size":
			n, err := units.RAMInBytes(val)
			if err != nil {
				return Mount{}, volumeErr("invalid value for %s: %s", k, val)
			}
			m.Options = append(m.Options, fmt.Sprintf("size=%d", n))
		case "tmpfs-mode":
			mode, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return Mount{}, volumeErr("invalid value for %s: %s", k, val)
			}
			m.Options = append(m.Options, fmt.Sprintf("mode=%o", mode))
		default:
			return Mount{}, volumeErr("unexpected key '%s' in '%s'", k, f)
		}
	}
	switch m.Type {
	case "bind":
		if m.Source == "" {
			return Mount{}, volumeErr("invalid mount config for type \"bind\": field Source must not be empty")
		}
		if strings.HasPrefix(m.Source, ".") {
			m.Source = filepath.Join(cwd, m.Source)
		}
		if !filepath.IsAbs(m.Source) {
			return Mount{}, volumeErr("invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", m.Source)
		}
		m.Source = filepath.Clean(m.Source)
	case "tmpfs":
		if m.Source != "" {
			return Mount{}, volumeErr("invalid mount config for type \"tmpfs\": field Source must be empty")
		}
	case "volume":
		return Mount{}, volumeErr("%s: volume mounts are not supported (use type=bind or type=tmpfs)", v)
	default:
		return Mount{}, volumeErr("invalid mount type %q", m.Type)
	}
	if m.Target == "" {
		return Mount{}, volumeErr("invalid mount config for type \"%s\": field Target must not be empty", m.Type)
	}
	return m, checkTarget(m)
}

// ParseTmpfs reads docker's --tmpfs PATH[:OPTS], OPTS a comma list passed
// to the tmpfs (size=64m, mode=1777, exec, ...).
func ParseTmpfs(v string) (Mount, error) {
	dst, opts, _ := strings.Cut(v, ":")
	m := Mount{Type: "tmpfs", Target: dst}
	if opts != "" {
		m.Options = strings.Split(opts, ",")
	}
	if _, _, err := tmpfsOptions(m); err != nil {
		return Mount{}, fmt.Errorf("%w: %v", ErrVolume, err)
	}
	return m, checkTarget(m)
}

func checkTarget(m Mount) error {
	if !path.IsAbs(m.Target) {
		return volumeErr("invalid mount config: invalid mount path: '%s' mount path must be absolute", m.Target)
	}
	switch t := path.Clean(m.Target); {
	case t == "/":
		return volumeErr("invalid specification: destination can't be '/'")
	case t == "/proc" || strings.HasPrefix(t, "/proc/"):
		return volumeErr("%s cannot be mounted because it is inside /proc", t)
	}
	return nil
}
