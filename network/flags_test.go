package network

import (
	"net/netip"
	"reflect"
	"testing"
)

var lo = netip.MustParseAddr("127.0.0.1")

func TestParsePort(t *testing.T) {
	any4 := netip.MustParseAddr("0.0.0.0")
	for _, tc := range []struct {
		in   string
		want []Port
		err  string
	}{
		{"80", []Port{{HostIP: lo, CtrPort: 80, Proto: "tcp"}}, ""},
		{"8080:80", []Port{{HostIP: lo, HostPort: 8080, CtrPort: 80, Proto: "tcp"}}, ""},
		{"8080:80/udp", []Port{{HostIP: lo, HostPort: 8080, CtrPort: 80, Proto: "udp"}}, ""},
		{"8080:80/TCP", []Port{{HostIP: lo, HostPort: 8080, CtrPort: 80, Proto: "tcp"}}, ""},
		{"0.0.0.0:8080:80", []Port{{HostIP: any4, HostPort: 8080, CtrPort: 80, Proto: "tcp"}}, ""},
		{"192.0.2.9::80", []Port{{HostIP: netip.MustParseAddr("192.0.2.9"), CtrPort: 80, Proto: "tcp"}}, ""},
		{"8000-8001:80-81", []Port{
			{HostIP: lo, HostPort: 8000, CtrPort: 80, Proto: "tcp"},
			{HostIP: lo, HostPort: 8001, CtrPort: 81, Proto: "tcp"}}, ""},
		{"80-81", []Port{{HostIP: lo, CtrPort: 80, Proto: "tcp"}, {HostIP: lo, CtrPort: 81, Proto: "tcp"}}, ""},
		// A host range for one container port: the first free one.
		{"8000-8010:80", []Port{{HostIP: lo, HostPort: 8000, HostPortEnd: 8010, CtrPort: 80, Proto: "tcp"}}, ""},
		// docker's messages.
		{"abc", nil, "invalid containerPort: abc"},
		{"0", nil, "invalid containerPort: 0"},
		{"70000", nil, "invalid containerPort: 70000"},
		{"x:80", nil, "invalid hostPort: x"},
		{"8080:", nil, "no port specified: 8080:<empty>"},
		{"8080:80/icmp", nil, "invalid proto: icmp"},
		{"8080:80/sctp", nil, "invalid proto: sctp: slirp4netns forwards tcp and udp only"},
		{"1.2.3:8080:80", nil, "invalid IP address: 1.2.3"},
		{"[::1]:8080:80", nil, "invalid IP address: [::1]: slirp4netns publishes on IPv4 addresses only"},
		{"8000-8002:80-81", nil, "invalid ranges specified for container and host Ports: 80-81 and 8000-8002"},
		{"81-80", nil, "invalid containerPort: 81-80"},
	} {
		got, err := ParsePort(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParsePort(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePort(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseExtraHost(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ExtraHost
		err  string
	}{
		{"db:10.1.2.3", ExtraHost{Name: "db", IP: netip.MustParseAddr("10.1.2.3")}, ""},
		{"db=10.1.2.3", ExtraHost{Name: "db", IP: netip.MustParseAddr("10.1.2.3")}, ""},
		{"v6:::1", ExtraHost{Name: "v6", IP: netip.MustParseAddr("::1")}, ""},
		{"v6=[::1]", ExtraHost{Name: "v6", IP: netip.MustParseAddr("::1")}, ""},
		{"h:host-gateway", ExtraHost{Name: "h", Gateway: true}, ""},
		{"nocolon10.0.0.1", ExtraHost{}, `bad format for add-host: "nocolon10.0.0.1"`},
		{":=::1", ExtraHost{}, `bad format for add-host: ":=::1"`},
		{"", ExtraHost{}, `bad format for add-host: ""`},
		{"h:192.notanip.1", ExtraHost{}, `invalid IP address in add-host: "192.notanip.1"`},
		{"h:", ExtraHost{}, `invalid IP address in add-host: ""`},
	} {
		got, err := ParseExtraHost(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseExtraHost(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseExtraHost(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	c, err := Parse(Flags{Network: "slirp4netns:allow_host_loopback=true,mtu=1500", Publish: []string{"8080:80"},
		DNS: []string{"9.9.9.9"}, DNSSearch: []string{"example.com", "lab."}, DNSOption: []string{"ndots:2"}})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Mode: Slirp4netns, AllowHostLoopback: true, MTU: 1500,
		Ports:     []Port{{HostIP: lo, HostPort: 8080, CtrPort: 80, Proto: "tcp"}},
		DNS:       []netip.Addr{netip.MustParseAddr("9.9.9.9")},
		DNSSearch: []string{"example.com", "lab"}, DNSOptions: []string{"ndots:2"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse = %+v, want %+v", c, want)
	}
	if _, err := Parse(Flags{Network: "slirp4netns:allow_host_loopback=true", Publish: []string{"53:53/udp"}}); err != nil {
		t.Errorf("UDP on loopback with allow_host_loopback: %v", err)
	}
	if _, err := Parse(Flags{Network: "slirp4netns", Publish: []string{"0.0.0.0:53:53/udp"}}); err != nil {
		t.Errorf("UDP on 0.0.0.0: %v", err)
	}
	if c, _ := Parse(Flags{}); c.Mode != Host {
		t.Errorf("default mode %q, want host", c.Mode)
	}
	if c, _ := Parse(Flags{DNSSearch: []string{"."}}); c.DNSSearch == nil || len(c.DNSSearch) != 0 {
		t.Errorf("--dns-search . = %#v, want an empty list", c.DNSSearch)
	}
	for _, tc := range []struct {
		f   Flags
		err string
	}{
		{Flags{Network: "bridge"}, "network bridge not found"},
		{Flags{Network: "none:mtu=1"}, "network none:mtu=1: only slirp4netns takes options"},
		{Flags{Network: "slirp4netns:mtu=9"}, "network slirp4netns:mtu=9: mtu=9: want 68 to 65521"},
		{Flags{Network: "slirp4netns:port_handler=rootlesskit"}, `network slirp4netns:port_handler=rootlesskit: unknown option "port_handler" (allow_host_loopback, mtu)`},
		{Flags{Network: "slirp4netns:allow_host_loopback=maybe"}, "network slirp4netns:allow_host_loopback=maybe: allow_host_loopback=maybe: want true or false"},
		{Flags{Publish: []string{"80"}}, "publish: ports can only be published with --network slirp4netns, not host"},
		{Flags{Network: "none", Publish: []string{"80"}}, "publish: ports can only be published with --network slirp4netns, not none"},
		{Flags{Network: "slirp4netns", Publish: []string{"53:53/udp"}}, "publish 127.0.0.1:53/udp: slirp4netns answers UDP from the host's loopback only with --network slirp4netns:allow_host_loopback=true (or publish on another address)"},
		{Flags{DNS: []string{"1.2.3"}}, "IP address is not correctly formatted: 1.2.3"},
		{Flags{DNSSearch: []string{"-bad-"}}, "-bad- is not a valid domain"},
		{Flags{DNSSearch: []string{"1.2.3.4"}}, "1.2.3.4 is not a valid domain"},
		{Flags{DNSOption: []string{"ndots 2"}}, `invalid dns option: "ndots 2"`},
	} {
		if _, err := Parse(tc.f); err == nil || err.Error() != tc.err {
			t.Errorf("Parse(%+v): error %v, want %q", tc.f, err, tc.err)
		}
	}
}
