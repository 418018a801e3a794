package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
)

// EtcFiles are the files of /etc a container gets from lfs (Spec.Etc's
// keys).
var EtcFiles = []string{"hostname", "hosts", "resolv.conf"}

// WriteEtc writes the container's hosts, hostname and resolv.conf into
// dir and returns them as Spec.Etc; hosts and resolv are their contents
// (network.Config's Hosts and ResolvConf make them for each network).
func WriteEtc(dir, hostname string, hosts, resolv []byte) (map[string]string, error) {
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
