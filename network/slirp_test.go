package network

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lfs-dev/lfs/internal/unprivileged"
)

// Reserved argv[0]s that make the test binary one of its own helpers.
const (
	// childArg: a process in a network namespace of its own that waits
	// for a line on stdin (the network is up), then dials or serves.
	childArg = "lfs-network-test-child"
	// rootlessArg: as an unprivileged user, start a child in a user and
	// network namespace, attach slirp4netns and reach a published port.
	rootlessArg = "lfs-network-test-rootless"
)

func init() {
	if len(os.Args) > 0 {
		switch os.Args[0] {
		case childArg:
			os.Exit(child(os.Args[1:]))
		case rootlessArg:
			if err := rootless(); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
			fmt.Println("ok")
			os.Exit(0)
		}
	}
}

// child: "dial ADDR" prints the line the server at ADDR sends, or the
// error; "serve PORT" echoes lines on TCP and datagrams on UDP at PORT
// until stdin closes; "sink PORT" counts the bytes of each TCP
// connection and answers with the count.
func child(args []string) int {
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return 2
	}
	switch args[0] {
	case "dial":
		c, err := net.DialTimeout("tcp", args[1], 3*time.Second)
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Print(line)
		return 0
	case "sink":
		l, err := net.Listen("tcp", ":"+args[1])
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			if err != nil {
				return 1
			}
			n, _ := io.Copy(io.Discard, c)
			fmt.Fprintf(c, "%d\n", n)
			c.Close()
		}
	case "serve":
		l, err := net.Listen("tcp", ":"+args[1])
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		u, err := net.ListenPacket("udp", ":"+args[1])
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					line, _ := bufio.NewReader(c).ReadString('\n')
					fmt.Fprintf(c, "echo: %s", line)
				}()
			}
		}()
		go func() {
			b := make([]byte, 1500)
			for {
				n, from, err := u.ReadFrom(b)
				if err != nil {
					return
				}
				u.WriteTo(append([]byte("echo: "), b[:n]...), from)
			}
		}()
		fmt.Println("listening")
		io.Copy(io.Discard, in)
		return 0
	}
	return 2
}

// netnsChild is a running child, its stdin and its stdout.
type netnsChild struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startChild starts the test binary as childArg in a new network
// namespace (and a user namespace mapping our uid to root, when
// userns); it is killed at cleanup.
func startChild(t testing.TB, userns bool, args ...string) *netnsChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: exe, Args: append([]string{childArg}, args...), Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}}
	if userns {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return &netnsChild{cmd, in, bufio.NewReader(out)}
}

// go tells the child its network is up and returns its first line.
func (c *netnsChild) goAhead(t testing.TB) string {
	t.Helper()
	if _, err := io.WriteString(c.in, "go\n"); err != nil {
		t.Fatal(err)
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	return strings.TrimSpace(line)
}

func needSlirp(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		t.Skip("slirp4netns is not installed (Debian package slirp4netns)")
	}
	if os.Getuid() != 0 {
		t.Skip("the tests make network namespaces as root (the rootless one runs as nobody)")
	}
}

func startNet(t testing.TB, pid int, c Config) *Net {
	t.Helper()
	n, err := Start(pid, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// serveHello listens on addr and greets each connection with "hello".
func serveHello(t testing.TB, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello\n")
			c.Close()
		}
	}()
	return l.Addr().String()
}

// hostAddr is one of this machine's IPv4 addresses but loopback.
func hostAddr(t testing.TB) netip.Addr {
	ip, err := Config{Mode: Slirp4netns}.HostGatewayIP()
	if err != nil {
		t.Skipf("outbound test needs a non-loopback IPv4 address on the host: %v", err)
	}
	return ip
}

// The container reaches a server on the host's own address through
// slirp4netns (as it would reach any outside address); the host's
// loopback only with allow_host_loopback.
func TestStartOutbound(t *testing.T) {
	needSlirp(t)
	outside := serveHello(t, netip.AddrPortFrom(hostAddr(t), 0).String())
	_, loPort, _ := net.SplitHostPort(serveHello(t, "127.0.0.1:0"))
	viaGateway := net.JoinHostPort(Gateway.String(), loPort)

	c := startChild(t, false, "dial", outside)
	startNet(t, c.cmd.Process.Pid, Config{Mode: Slirp4netns})
	if got := c.goAhead(t); got != "hello" {
		t.Errorf("dial %s from the container: %q, want hello", outside, got)
	}

	c = startChild(t, false, "dial", viaGateway)
	startNet(t, c.cmd.Process.Pid, Config{Mode: Slirp4netns})
	if got := c.goAhead(t); !strings.HasPrefix(got, "error:") {
		t.Errorf("dial the host's loopback %s from the container by default: %q, want refused", viaGateway, got)
	}

	c = startChild(t, false, "dial", viaGateway)
	startNet(t, c.cmd.Process.Pid, Config{Mode: Slirp4netns, AllowHostLoopback: true})
	if got := c.goAhead(t); got != "hello" {
		t.Errorf("dial %s with allow_host_loopback: %q, want hello", viaGateway, got)
	}
}

// echo sends "hi" over proto to addr and returns the answer.
func echo(t testing.TB, proto, addr string) string {
	t.Helper()
	c, err := net.DialTimeout(proto, addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, "hi\n")
	b := make([]byte, 64)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("%s %s: %v", proto, addr, err)
	}
	return string(b[:n])
}

func TestStartPublish(t *testing.T) {
	needSlirp(t)
	for _, tc := range []struct {
		name string
		c    Config
	}{
		{"tcp", Config{Mode: Slirp4netns, Ports: []Port{{HostIP: lo, CtrPort: 8080, Proto: "tcp"}}}},
		// UDP answers reach the host's loopback only when it is allowed
		// (see Parse).
		{"udp", Config{Mode: Slirp4netns, AllowHostLoopback: true, Ports: []Port{{HostIP: lo, CtrPort: 8080, Proto: "udp"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startChild(t, false, "serve", "8080")
			n := startNet(t, c.cmd.Process.Pid, tc.c)
			if got := c.goAhead(t); got != "listening" {
				t.Fatalf("child: %q", got)
			}
			bound := n.Ports()
			if len(bound) != 1 || bound[0].HostPort == 0 || bound[0].HostIP != lo {
				t.Fatalf("Ports() = %v, want one port bound on 127.0.0.1", bound)
			}
			p := bound[0]
			addr := netip.AddrPortFrom(p.HostIP, p.HostPort).String()
			if got := echo(t, p.Proto, addr); got != "echo: hi\n" {
				t.Errorf("%s: %q, want the container's echo", p, got)
			}
			n.Close()
			if probe(p.Proto, netip.AddrPortFrom(p.HostIP, p.HostPort)) != nil {
				t.Errorf("port %s still bound after Close", p)
			}
			if left := slirpChildren(); len(left) > 0 {
				t.Errorf("slirp4netns still running after Close: %v", left)
			}
			if _, err := os.Stat(n.dir); !os.IsNotExist(err) {
				t.Errorf("API socket directory %s left: %v", n.dir, err)
			}
		})
	}
}

func TestStartPortInUse(t *testing.T) {
	needSlirp(t)
	taken := serveHello(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(taken)
	ports, err := ParsePort(port + ":80")
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, false, "serve", "80")
	_, err = Start(c.cmd.Process.Pid, Config{Mode: Slirp4netns, Ports: ports})
	want := fmt.Sprintf("publish 127.0.0.1:%s/tcp: bind: address already in use", port)
	if err == nil || err.Error() != want {
		t.Errorf("publish a port in use: %v, want %q", err, want)
	}
	if left := slirpChildren(); len(left) > 0 {
		t.Errorf("slirp4netns still running after a failed Start: %v", left)
	}
	// A range takes its first free port.
	p, _ := strconv.Atoi(port)
	ports, _ = ParsePort(fmt.Sprintf("%d-%d:80", p, p+20))
	n := startNet(t, c.cmd.Process.Pid, Config{Mode: Slirp4netns, Ports: ports})
	if got := n.Ports()[0].HostPort; int(got) <= p || int(got) > p+20 {
		t.Errorf("range %d-%d with %d taken: bound %d", p, p+20, p, got)
	}
}

func TestStartRefusesHostNetns(t *testing.T) {
	needSlirp(t)
	_, err := Start(os.Getpid(), Config{Mode: Slirp4netns})
	if err == nil || !strings.Contains(err.Error(), "is in the host's network namespace") {
		t.Errorf("Start on our own netns: %v", err)
	}
	if _, err := Start(os.Getpid(), Config{Mode: None}); err == nil {
		t.Error("Start with --network none: no error")
	}
}

// slirpChildren lists the slirp4netns processes this process started.
func slirpChildren() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(slirp4netns") {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestStartRootless runs this test binary as nobody: it starts a child in a user and network
// namespace of its own, as a rootless container, and publishes a port.
func TestStartRootless(t *testing.T) {
	needSlirp(t)
	if fi, err := os.Stat("/dev/net/tun"); err != nil || fi.Mode().Perm()&0o006 != 0o006 {
		t.Skip("/dev/net/tun is not read-writable by every user (Debian's default; .ci/run makes it so)")
	}
	cmd := unprivileged.Command(t, rootlessArg)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("rootless slirp4netns: %v\n%s", err, out)
	}
}

// rootless is TestStartRootless's side as nobody.
func rootless() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := &exec.Cmd{Path: exe, Args: []string{childArg, "serve", "80"}, Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}}}
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	ports, _ := ParsePort("80")
	// Port 80 inside, a free unprivileged one outside.
	n, err := Start(cmd.Process.Pid, Config{Mode: Slirp4netns, Ports: ports})
	if err != nil {
		return err
	}
	defer n.Close()
	io.WriteString(in, "go\n")
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "listening\n" {
		return fmt.Errorf("child: %q", line)
	}
	p := n.Ports()[0]
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(p.HostIP, p.HostPort).String(), 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	io.WriteString(c, "hi\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if line != "echo: hi\n" {
		return fmt.Errorf("published port: %q, %v", line, err)
	}
	// Binding a privileged host port needs a privilege nobody lacks.
	other := exec.Command(exe)
	other.Args = []string{childArg, "serve", "80"}
	other.SysProcAttr = cmd.SysProcAttr
	otherIn, _ := other.StdinPipe() // held open: the child waits on it
	defer otherIn.Close()
	if err := other.Start(); err != nil {
		return err
	}
	defer other.Wait()
	defer other.Process.Kill()
	low, _ := ParsePort("127.0.0.1:81:80")
	m, err := Start(other.Process.Pid, Config{Mode: Slirp4netns, Ports: low})
	if err == nil {
		m.Close()
		return fmt.Errorf("publish port 81 as nobody: no error")
	}
	if want := "publish 127.0.0.1:81/tcp: bind: permission denied"; err.Error() != want {
		return fmt.Errorf("publish port 81 as nobody: %v, want %q", err, want)
	}
	return nil
}

// BenchmarkStart is one container network: slirp4netns attached and
// ready with one published port, then closed.
func BenchmarkStart(b *testing.B) {
	needSlirp(b)
	ports, _ := ParsePort("80")
	for b.Loop() {
		c := startChild(b, false, "serve", "80")
		n, err := Start(c.cmd.Process.Pid, Config{Mode: Slirp4netns, Ports: ports})
		if err != nil {
			b.Fatal(err)
		}
		n.Close()
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

// BenchmarkPublishedTCP sends 64 MiB per iteration from the host to a
// sink in the container through a published port.
func BenchmarkPublishedTCP(b *testing.B) {
	needSlirp(b)
	c := startChild(b, false, "sink", "80")
	ports, _ := ParsePort("80")
	n := startNet(b, c.cmd.Process.Pid, Config{Mode: Slirp4netns, Ports: ports})
	if got := c.goAhead(b); got != "listening" {
		b.Fatalf("child: %q", got)
	}
	p := n.Ports()[0]
	buf := make([]byte, 1<<20)
	b.SetBytes(64 << 20)
	for b.Loop() {
		conn, err := net.Dial("tcp", netip.AddrPortFrom(p.HostIP, p.HostPort).String())
		if err != nil {
			b.Fatal(err)
		}
		for range 64 {
			if _, err := conn.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		conn.(*net.TCPConn).CloseWrite()
		// The sink answers with what it read, once it has read it all.
		if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || line != "67108864\n" {
			b.Fatalf("sink: %q, %v", line, err)
		}
		conn.Close()
	}
}
