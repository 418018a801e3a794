package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoSlirp4netns: the slirp4netns program is not installed.
var ErrNoSlirp4netns = errors.New("network: slirp4netns not found in $PATH (Debian package slirp4netns)")

// readyTimeout bounds the wait for slirp4netns to configure the namespace.
const readyTimeout = 10 * time.Second

// Net is slirp4netns serving one container's network namespace.
type Net struct {
	cmd    *exec.Cmd
	exitW  *os.File // its --exit-fd's other end: closing it stops slirp4netns
	dir    string   // holds the API socket
	ports  []Port
	out    *tail
	exited chan struct{}

	closeOnce sync.Once
}

// Start attaches slirp4netns to the network namespace of process pid,
// which must be a namespace of its own (created with CLONE_NEWNET), and
// returns once tap0 is configured (10.0.2.100/24, default route via
// Gateway, lo up) and every port of c is published. With a user
// namespace of its own (rootless), slirp4netns joins it first: run by
// the namespace's owner, it needs no privilege.
//
// slirp4netns runs sandboxed (its own mount namespace, no capabilities,
// a seccomp filter), since it parses the container's packets, and dies
// with this process: it watches a pipe (--exit-fd) that only we hold.
// Close stops it. A port that cannot be published fails Start with one
// line naming the port and why (in use, no permission).
func Start(pid int, c Config) (*Net, error) {
	if c.Mode != Slirp4netns {
		return nil, fmt.Errorf("network: start: --network %s needs no slirp4netns", c.Mode)
	}
	bin, err := exec.LookPath("slirp4netns")
	if err != nil {
		return nil, ErrNoSlirp4netns
	}
	if err := ownNetns(pid); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lfs-slirp-")
	if err != nil {
		return nil, fmt.Errorf("network: start: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("network: start: %w", err)
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("network: start: %w", err)
	}
	mtu := c.MTU
	if mtu == 0 {
		mtu = 65520
	}
	args := []string{"--configure", "--mtu=" + strconv.Itoa(mtu),
		"--ready-fd=3", "--exit-fd=4", "--api-socket", filepath.Join(dir, "api.sock"),
		"--enable-sandbox", "--enable-seccomp"}
	if !c.AllowHostLoopback {
		args = append(args, "--disable-host-loopback")
	}
	args = append(args, strconv.Itoa(pid), "tap0")
	n := &Net{dir: dir, exitW: exitW, out: &tail{max: 4096}, exited: make(chan struct{})}
	n.cmd = &exec.Cmd{
		Path:       bin,
		Args:       append([]string{"slirp4netns"}, args...),
		Stdout:     n.out,
		Stderr:     n.out,
		ExtraFiles: []*os.File{readyW, exitR}, // fds 3 and 4
		// Its own process group: a ^C meant for the container's
		// foreground does not stop the container's network.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = n.cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		exitW.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("network: start slirp4netns: %w", err)
	}
	go func() {
		n.cmd.Wait()
		close(n.exited)
	}()
	if err := n.waitReady(readyR); err != nil {
		n.Close()
		return nil, err
	}
	for _, p := range c.Ports {
		bound, err := n.publish(p)
		if err != nil {
			n.Close()
			return nil, err
		}
		n.ports = append(n.ports, bound)
	}
	return n, nil
}

// ownNetns refuses a process in our own network namespace: slirp4netns
// would make tap0 and its default route on the host.
func ownNetns(pid int) error {
	theirs, err := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return fmt.Errorf("network: start: %w", err)
	}
	ours, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("network: start: %w", err)
	}
	if os.SameFile(theirs, ours) {
		return fmt.Errorf("network: start: process %d is in the host's network namespace", pid)
	}
	return nil
}

// waitReady waits for slirp4netns's "1" on its ready fd; EOF there means
// it died, and its last words say why.
func (n *Net) waitReady(r *os.File) error {
	r.SetReadDeadline(time.Now().Add(readyTimeout))
	b := make([]byte, 1)
	_, err := io.ReadFull(r, b)
	switch {
	case err == nil && b[0] == '1':
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("network: slirp4netns not ready after %s: %s", readyTimeout, n.out.last())
	}
	select {
	case <-n.exited:
	case <-time.After(readyTimeout):
	}
	return fmt.Errorf("network: slirp4netns: %s", n.out.last())
}

// Ports are the published ports as bound: a HostPort of 0 or a range in
// Config is the port taken.
func (n *Net) Ports() []Port { return append([]Port(nil), n.ports...) }

// Close stops slirp4netns (the container's network goes down with it)
// and removes its socket. It may be called more than once.
func (n *Net) Close() error {
	n.closeOnce.Do(func() {
		n.exitW.Close()
		select {
		case <-n.exited:
		case <-time.After(5 * time.Second):
			n.cmd.Process.Kill()
			<-n.exited
		}
		os.RemoveAll(n.dir)
	})
	return nil
}

// publish asks slirp4netns to listen on p's host address and forward to
// the container. A HostPort of 0 is a free port picked here; a range is
// tried port by port.
func (n *Net) publish(p Port) (Port, error) {
	if p.HostPort == 0 {
		port, err := freePort(p.Proto, p.HostIP)
		if err != nil {
			return p, fmt.Errorf("publish %s/%s: %w", p.HostIP, p.Proto, err)
		}
		p.HostPort = port
	}
	last := p.HostPort
	if p.HostPortEnd > last {
		last = p.HostPortEnd
	}
	var err error
	for port := int(p.HostPort); port <= int(last); port++ {
		q := p
		q.HostPort, q.HostPortEnd = uint16(port), 0
		if err = n.addHostfwd(q); err == nil {
			return q, nil
		}
	}
	if p.HostPortEnd > p.HostPort {
		return p, fmt.Errorf("publish %s:%d-%d/%s: no free port in the range: %w", p.HostIP, p.HostPort, last, p.Proto, err)
	}
	return p, err
}

// addHostfwd is one add_hostfwd request. slirp4netns's own error names
// no reason ("slirp_add_hostfwd failed"), so on failure the address is
// tried here for the kernel's (address in use, permission denied).
func (n *Net) addHostfwd(p Port) error {
	addr := netip.AddrPortFrom(p.HostIP, p.HostPort)
	var resp struct {
		Error *struct {
			Desc string `json:"desc"`
		} `json:"error"`
	}
	err := n.api(map[string]any{"execute": "add_hostfwd", "arguments": map[string]any{
		"proto": p.Proto, "host_addr": p.HostIP.String(), "host_port": p.HostPort, "guest_port": p.CtrPort,
	}}, &resp)
	if err == nil && resp.Error == nil {
		return nil
	}
	if err == nil {
		err = errors.New(resp.Error.Desc)
		if why := probe(p.Proto, addr); why != nil {
			err = why
		}
	}
	return fmt.Errorf("publish %s/%s: %w", addr, p.Proto, err)
}

// api sends one request on slirp4netns's API socket: one connection per
// request, the request ended by shutting down our side.
func (n *Net) api(req, resp any) error {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: filepath.Join(n.dir, "api.sock"), Net: "unix"})
	if err != nil {
		return fmt.Errorf("slirp4netns api: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(readyTimeout))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("slirp4netns api: %w", err)
	}
	c.CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("slirp4netns api: %w", err)
	}
	if err := json.Unmarshal(b, resp); err != nil {
		return fmt.Errorf("slirp4netns api: %q: %w", b, err)
	}
	return nil
}

// probe binds addr briefly and returns the kernel's refusal, if any.
func probe(proto string, addr netip.AddrPort) error {
	var c io.Closer
	var err error
	if proto == "udp" {
		c, err = net.ListenPacket("udp4", addr.String())
	} else {
		c, err = net.Listen("tcp4", addr.String())
	}
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return op.Err // "bind: address already in use"
		}
		return err
	}
	c.Close()
	return nil
}

// freePort asks the kernel for a free port on ip.
func freePort(proto string, ip netip.Addr) (uint16, error) {
	addr := netip.AddrPortFrom(ip, 0).String()
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

// tail keeps the last bytes written to it: slirp4netns's output, for
// the line that says why it failed.
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(b), nil
}

// last is the last line that is not one of slirp4netns's own warnings.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(string(bytes.TrimSpace(t.buf)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "WARNING:") && l != "child failed(1)" {
			return l
		}
	}
	return "exited without a message"
}
