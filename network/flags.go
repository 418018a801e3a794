package network

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Mode is a container's network, as --network names it.
type Mode string

const (
	// Host shares the caller's network namespace (the default).
	Host Mode = "host"
	// None is a network namespace of the container's own with only lo, up.
	None Mode = "none"
	// Slirp4netns is a network namespace of the container's own whose
	// tap0 slirp4netns connects to the host's network in user mode: the
	// container reaches out through the host's sockets, and published
	// ports are sockets slirp4netns listens on.
	Slirp4netns Mode = "slirp4netns"
)

// Addresses slirp4netns gives the namespace (its defaults for 10.0.2.0/24).
var (
	// Gateway is the router; it reaches the host's own loopback only
	// with AllowHostLoopback.
	Gateway = netip.MustParseAddr("10.0.2.2")
	// Nameserver is slirp4netns's DNS forwarder to the host's resolvers.
	Nameserver = netip.MustParseAddr("10.0.2.3")
	// Address is the container's address on tap0.
	Address = netip.MustParseAddr("10.0.2.100")
)

// DefaultHostIP is where a published port listens when -p names no
// address. Docker's default is 0.0.0.0, every interface of the host; lfs
// publishes on the host's loopback only, so that a container is never
// reachable from the network unless asked (-p 0.0.0.0:8080:80).
var DefaultHostIP = netip.MustParseAddr("127.0.0.1")

// HostGateway is the --add-host value that stands for the host.
const HostGateway = "host-gateway"

// Flags are the network flags of lfs run and lfs create, as the user
// gave them.
type Flags struct {
	Network   string   // --network: host (""), none, slirp4netns[:OPTIONS]
	Publish   []string // -p, --publish: [IP:][HOST:]CTR[/tcp|/udp]
	AddHost   []string // --add-host: NAME:IP, NAME=IP, NAME:host-gateway
	DNS       []string // --dns: IP
	DNSSearch []string // --dns-search: DOMAIN, or "." for none
	DNSOption []string // --dns-option: OPTION
}

// Config is a container's network, checked.
type Config struct {
	Mode Mode
	// AllowHostLoopback lets the container reach the host's 127.0.0.1
	// through Gateway (slirp4netns:allow_host_loopback=true, as podman
	// spells it). Off by default: a service the host binds to loopback
	// only is not meant for its containers.
	AllowHostLoopback bool
	// MTU of tap0 (slirp4netns:mtu=N); 0 is 65520.
	MTU int
	// Ports are the published ports.
	Ports []Port
	// ExtraHosts are the --add-host entries, in order.
	ExtraHosts []ExtraHost
	// DNS, DNSSearch and DNSOptions replace the nameservers, search
	// domains and options of the container's resolv.conf when set.
	// DNSSearch []string{} (from --dns-search .) clears the search list.
	DNS        []netip.Addr
	DNSSearch  []string
	DNSOptions []string
}

// Port is one published port, or one range of them.
type Port struct {
	// HostIP is the host address the port listens on.
	HostIP netip.Addr
	// HostPort is the host port; 0 picks a free one. With HostPortEnd >
	// HostPort a single container port takes the first free port of
	// the range, as with docker.
	HostPort, HostPortEnd uint16
	// CtrPort is the container's port.
	CtrPort uint16
	// Proto is "tcp" or "udp".
	Proto string
}

func (p Port) String() string {
	return fmt.Sprintf("%d/%s -> %s", p.CtrPort, p.Proto, netip.AddrPortFrom(p.HostIP, p.HostPort))
}

// ExtraHost is one --add-host entry; Gateway entries resolve to the
// host's address as the container can reach it (see Config.Hosts).
type ExtraHost struct {
	Name    string
	IP      netip.Addr
	Gateway bool
}

// Parse checks the flags and returns the network they describe. Its
// errors are docker's words for the same mistakes.
func Parse(f Flags) (Config, error) {
	c, err := parseMode(f.Network)
	if err != nil {
		return c, err
	}
	for _, s := range f.Publish {
		ports, err := ParsePort(s)
		if err != nil {
			return c, err
		}
		c.Ports = append(c.Ports, ports...)
	}
	if len(c.Ports) > 0 && c.Mode != Slirp4netns {
		// docker ignores -p with --network host, with a warning; with
		// lfs it would be a silent no-op, so it is refused.
		return c, fmt.Errorf("publish: ports can only be published with --network slirp4netns, not %s", c.Mode)
	}
	for _, p := range c.Ports {
		// slirp4netns takes a datagram from the host's loopback as
		// from Gateway, and its reply to Gateway as one to the host's
		// loopback, which --disable-host-loopback drops.
		if p.Proto == "udp" && p.HostIP.IsLoopback() && !c.AllowHostLoopback {
			return c, fmt.Errorf("publish %s:%d/udp: slirp4netns answers UDP from the host's loopback only with --network slirp4netns:allow_host_loopback=true (or publish on another address)", p.HostIP, p.HostPort)
		}
	}
	for _, s := range f.AddHost {
		h, err := ParseExtraHost(s)
		if err != nil {
			return c, err
		}
		c.ExtraHosts = append(c.ExtraHosts, h)
	}
	for _, s := range f.DNS {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return c, fmt.Errorf("IP address is not correctly formatted: %s", s)
		}
		c.DNS = append(c.DNS, ip)
	}
	if len(f.DNSSearch) > 0 {
		c.DNSSearch = []string{} // "." alone leaves the list empty, not the host's
	}
	for _, s := range f.DNSSearch {
		d, err := parseDNSSearch(s)
		if err != nil {
			return c, err
		}
		if d != "." {
			c.DNSSearch = append(c.DNSSearch, d)
		}
	}
	for _, s := range f.DNSOption {
		if s == "" || strings.ContainsAny(s, " \t\n") {
			return c, fmt.Errorf("invalid dns option: %q", s)
		}
		c.DNSOptions = append(c.DNSOptions, s)
	}
	return c, nil
}

// parseMode reads --network: host, none, or slirp4netns with podman's
// options (slirp4netns:allow_host_loopback=true,mtu=1500).
func parseMode(s string) (Config, error) {
	name, opts, hasOpts := strings.Cut(s, ":")
	c := Config{Mode: Mode(name)}
	switch c.Mode {
	case "":
		c.Mode = Host
	case Host, None, Slirp4netns:
	default:
		// docker's message for a network it does not know.
		return c, fmt.Errorf("network %s not found", s)
	}
	if !hasOpts {
		return c, nil
	}
	if c.Mode != Slirp4netns {
		return c, fmt.Errorf("network %s: only slirp4netns takes options", s)
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "allow_host_loopback":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return c, fmt.Errorf("network %s: allow_host_loopback=%s: want true or false", s, v)
			}
			c.AllowHostLoopback = b
		case "mtu":
			n, err := strconv.Atoi(v)
			// slirp4netns's own bounds: the IPv4 minimum and its maximum.
			if err != nil || n < 68 || n > 65521 {
				return c, fmt.Errorf("network %s: mtu=%s: want 68 to 65521", s, v)
			}
			c.MTU = n
		default:
			return c, fmt.Errorf("network %s: unknown option %q (allow_host_loopback, mtu)", s, k)
		}
	}
	return c, nil
}

// ParsePort reads one -p value, [IP:][HOST:]CTR[/PROTO], where HOST and
// CTR may be ranges (8000-8009); it returns one Port per container port.
// Without IP the port listens on DefaultHostIP; without HOST on a free
// port.
func ParsePort(s string) ([]Port, error) {
	parts := strings.Split(s, ":")
	n := len(parts)
	var ipStr, hostStr string
	ctrStr := parts[n-1]
	switch n {
	case 1:
	case 2:
		hostStr = parts[0]
	default:
		// An IPv6 address holds colons of its own.
		ipStr, hostStr = strings.Join(parts[:n-2], ":"), parts[n-2]
	}
	ctrStr, proto, _ := strings.Cut(ctrStr, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	ip := DefaultHostIP
	if ipStr != "" {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(ipStr, "["), "]"))
		if err != nil {
			return nil, fmt.Errorf("invalid IP address: %s", ipStr)
		}
		if !a.Is4() && !a.Is4In6() {
			// slirp4netns's add_hostfwd is IPv4 only.
			return nil, fmt.Errorf("invalid IP address: %s: slirp4netns publishes on IPv4 addresses only", ipStr)
		}
		ip = a.Unmap()
	}
	if ctrStr == "" {
		return nil, fmt.Errorf("no port specified: %s<empty>", s)
	}
	ctr, ctrEnd, err := portRange(ctrStr)
	if err != nil || ctr == 0 {
		return nil, fmt.Errorf("invalid containerPort: %s", ctrStr)
	}
	var host, hostEnd uint16
	if hostStr != "" {
		if host, hostEnd, err = portRange(hostStr); err != nil {
			return nil, fmt.Errorf("invalid hostPort: %s", hostStr)
		}
		if hostEnd-host != ctrEnd-ctr && ctrEnd != ctr {
			return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", ctrStr, hostStr)
		}
	}
	switch proto {
	case "tcp", "udp":
	case "sctp":
		return nil, fmt.Errorf("invalid proto: %s: slirp4netns forwards tcp and udp only", proto)
	default:
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	if ctrEnd == ctr {
		p := Port{HostIP: ip, HostPort: host, CtrPort: ctr, Proto: proto}
		if hostEnd > host {
			p.HostPortEnd = hostEnd
		}
		return []Port{p}, nil
	}
	var ports []Port
	for i := 0; i <= int(ctrEnd-ctr); i++ {
		p := Port{HostIP: ip, CtrPort: ctr + uint16(i), Proto: proto}
		if host != 0 {
			p.HostPort = host + uint16(i)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// portRange reads "N" or "N-M" (N <= M).
func portRange(s string) (uint16, uint16, error) {
	a, b, isRange := strings.Cut(s, "-")
	start, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(b, 10, 16); err != nil {
			return 0, 0, err
		}
		if end < start {
			return 0, 0, errors.New("invalid range")
		}
	}
	return uint16(start), uint16(end), nil
}

// ParseExtraHost reads one --add-host value: NAME:IP or NAME=IP, the IP
// possibly in brackets, or NAME:host-gateway.
func ParseExtraHost(s string) (ExtraHost, error) {
	name, v, ok := strings.Cut(s, "=")
	if !ok {
		// Only the first colon separates: an IPv6 address holds more.
		name, v, ok = strings.Cut(s, ":")
	}
	if !ok || name == "" || strings.Contains(name, ":") {
		return ExtraHost{}, fmt.Errorf("bad format for add-host: %q", s)
	}
	if v == HostGateway {
		return ExtraHost{Name: name, Gateway: true}, nil
	}
	if len(v) > 2 && v[0] == '[' && v[len(v)-1] == ']' {
		v = v[1 : len(v)-1]
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil || ip.Zone() != "" {
		return ExtraHost{}, fmt.Errorf("invalid IP address in add-host: %q", v)
	}
	return ExtraHost{Name: name, IP: ip}, nil
}

// domain is a DNS name: labels of letters, digits and inner hyphens,
// separated by dots, a final dot allowed.
var domain = regexp.MustCompile(`^((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)\.?$`)

// parseDNSSearch reads one --dns-search value: a domain, or "." for
// none.
func parseDNSSearch(s string) (string, error) {
	s = strings.Trim(s, " ")
	if s == "." {
		return s, nil
	}
	// A name with no letter would be an address, not a domain.
	if m := domain.FindStringSubmatch(s); m != nil && strings.ContainsFunc(s, isLetter) && len(m[1]) < 255 {
		return m[1], nil
	}
	return "", fmt.Errorf("%s is not a valid domain", s)
}

func isLetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }
