package network

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// hostsDefault is docker's /etc/hosts of a container with a network
// namespace of its own, before its extra hosts and its own address.
const hostsDefault = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
`

// Hosts returns the container's /etc/hosts, given the host's (host may
// be nil). With the host's network it is the host's file, so that the
// host's names resolve as they do outside; otherwise docker's localhost
// lines. The --add-host entries follow, then, with slirp4netns, the
// container's own address and hostname (as docker ends it with the
// container's address on its bridge).
func (c Config) Hosts(hostname string, host []byte) ([]byte, error) {
	var b bytes.Buffer
	if c.Mode == Host && host != nil {
		b.Write(host)
		if len(host) > 0 && host[len(host)-1] != '\n' {
			b.WriteByte('\n')
		}
	} else {
		b.WriteString(hostsDefault)
	}
	for _, h := range c.ExtraHosts {
		ip := h.IP
		if h.Gateway {
			var err error
			if ip, err = c.HostGatewayIP(); err != nil {
				return nil, fmt.Errorf("add-host %s:%s: %w", h.Name, HostGateway, err)
			}
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, h.Name)
	}
	if c.Mode == Slirp4netns && hostname != "" {
		fmt.Fprintf(&b, "%s\t%s\n", Address, hostname)
	}
	return b.Bytes(), nil
}

// HostGatewayIP is the address that --add-host NAME:host-gateway gives
// NAME: where the container reaches the host. With the host's network
// that is 127.0.0.1. With slirp4netns it is Gateway when the host's
// loopback is allowed, else the host's first non-loopback IPv4 address
// (slirp4netns connects to it from the host's side). A container with
// --network none cannot reach the host.
func (c Config) HostGatewayIP() (netip.Addr, error) {
	switch {
	case c.Mode == Host:
		return netip.MustParseAddr("127.0.0.1"), nil
	case c.Mode == None:
		return netip.Addr{}, fmt.Errorf("a container with --network none cannot reach the host")
	case c.AllowHostLoopback:
		return Gateway, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() && !ip.IsLoopback() {
				return ip.Unmap(), nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("the host has no IPv4 address but loopback (use --network slirp4netns:allow_host_loopback=true)")
}

// ResolvConf returns the container's /etc/resolv.conf, given the host's.
// With the host's network or none and no --dns flags it is the host's
// file unchanged (as docker copies it). Otherwise it is written anew:
// the nameservers are --dns, else slirp4netns's forwarder (Nameserver),
// else the host's; the search list --dns-search, else the host's; the
// options --dns-option, else the host's.
func (c Config) ResolvConf(host []byte) []byte {
	if c.Mode != Slirp4netns && c.DNS == nil && c.DNSSearch == nil && c.DNSOptions == nil {
		return host
	}
	var servers, search, options []string
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				servers = append(servers, f[1])
			}
		// The last of search and domain wins (resolv.conf(5)).
		case "search", "domain":
			search = f[1:]
		case "options":
			options = append(options, f[1:]...)
		}
	}
	switch {
	case c.DNS != nil:
		servers = servers[:0]
		for _, ip := range c.DNS {
			servers = append(servers, ip.String())
		}
	case c.Mode == Slirp4netns:
		servers = []string{Nameserver.String()}
	}
	if c.DNSSearch != nil {
		search = c.DNSSearch
	}
	if c.DNSOptions != nil {
		options = c.DNSOptions
	}
	var b bytes.Buffer
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.Bytes()
}
