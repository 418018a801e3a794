package network

import (
	"net/netip"
	"strings"
	"testing"
)

const hostHosts = "127.0.0.1 localhost\n192.0.2.2 buildhost\n"
const hostResolv = "# managed\nnameserver 127.0.0.53\nsearch corp.example\noptions edns0\n"

func TestHosts(t *testing.T) {
	db := ExtraHost{Name: "db", IP: netip.MustParseAddr("10.1.2.3")}
	gw := ExtraHost{Name: "host.docker.internal", Gateway: true}
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"host keeps the host's names", Config{Mode: Host, ExtraHosts: []ExtraHost{db, gw}},
			hostHosts + "10.1.2.3\tdb\n127.0.0.1\thost.docker.internal\n"},
		{"none", Config{Mode: None, ExtraHosts: []ExtraHost{db}}, hostsDefault + "10.1.2.3\tdb\n"},
		{"slirp4netns ends with the container's address",
			Config{Mode: Slirp4netns, AllowHostLoopback: true, ExtraHosts: []ExtraHost{db, gw}},
			hostsDefault + "10.1.2.3\tdb\n10.0.2.2\thost.docker.internal\n10.0.2.100\tc0ffee\n"},
	} {
		got, err := tc.c.Hosts("c0ffee", []byte(hostHosts))
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: Hosts =\n%s(%v), want\n%s", tc.name, got, err, tc.want)
		}
	}
	// Without host loopback, host-gateway is one of the host's own
	// addresses, which slirp4netns reaches from outside.
	got, err := Config{Mode: Slirp4netns, ExtraHosts: []ExtraHost{gw}}.Hosts("c0ffee", nil)
	if err == nil {
		line := strings.Split(string(got), "\n")[6]
		ip, _ := netip.ParseAddr(strings.Fields(line)[0])
		if !ip.Is4() || ip.IsLoopback() || ip == Gateway {
			t.Errorf("host-gateway without host loopback: %q, want a non-loopback host address", line)
		}
	}
	if _, err := (Config{Mode: None, ExtraHosts: []ExtraHost{gw}}).Hosts("x", nil); err == nil ||
		err.Error() != "add-host host.docker.internal:host-gateway: a container with --network none cannot reach the host" {
		t.Errorf("host-gateway with --network none: %v", err)
	}
}

func TestResolvConf(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"host: the host's, unchanged", Config{Mode: Host}, hostResolv},
		{"none: the host's, unchanged", Config{Mode: None}, hostResolv},
		{"slirp4netns: its forwarder, the host's search and options", Config{Mode: Slirp4netns},
			"nameserver 10.0.2.3\nsearch corp.example\noptions edns0\n"},
		{"--dns replaces the nameservers", Config{Mode: Host, DNS: []netip.Addr{netip.MustParseAddr("9.9.9.9"), netip.MustParseAddr("2620:fe::fe")}},
			"nameserver 9.9.9.9\nnameserver 2620:fe::fe\nsearch corp.example\noptions edns0\n"},
		{"--dns-search and --dns-option replace theirs", Config{Mode: Slirp4netns, DNSSearch: []string{"a.example", "b.example"}, DNSOptions: []string{"ndots:2", "rotate"}},
			"nameserver 10.0.2.3\nsearch a.example b.example\noptions ndots:2 rotate\n"},
		{"--dns-search . clears the list", Config{Mode: Host, DNSSearch: []string{}},
			"nameserver 127.0.0.53\noptions edns0\n"},
	} {
		if got := tc.c.ResolvConf([]byte(hostResolv)); string(got) != tc.want {
			t.Errorf("%s: ResolvConf =\n%s, want\n%s", tc.name, got, tc.want)
		}
	}
}
