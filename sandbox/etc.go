package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
)

// hostsNone is docker's /etc/hosts for a container without a network.
const hostsNone = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
`

// EtcFiles are the files of /etc a container gets from lfs (Spec.Etc's
// keys).
var EtcFiles = []string{"hostname", "hosts", "resolv.conf"}

// WriteEtc writes the container's hosts, hostname and resolv.conf into
// dir and returns them as Spec.Etc. With the host's network the host's
// /etc/hosts and /etc/resolv.conf are copied (as docker does for
// --network host); without one, hosts knows only localhost.
func WriteEtc(dir, hostname string, network Network) (map[string]string, error) {
	hosts := []byte(hostsNone)
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("write etc files: %w", err)
	}
	if network != NetworkNone {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = b
		}
	}
	files := map[string][]byte{"hosts": hosts, "hostname": []byte(hostname + "\n"), "resolv.conf": resolv}
	etc := map[string]string{}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, fmt.Errorf("write etc files: %w", err)
		}
		etc[name] = p
	}
	return etc, nil
}
