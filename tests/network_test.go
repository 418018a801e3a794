package tests

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func needSlirp4netns(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		t.Skip("slirp4netns is not installed (make deps)")
	}
}

// freePort is a TCP port nobody listens on now on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// background is lfs running in the background, its output collected.
type background struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

// startLfs starts lfs on s; at cleanup it is stopped (SIGTERM, which
// --init forwards, then SIGKILL) and waited for.
func (s *store) startLfs(t *testing.T, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command(lfsBin, s.args(args)...)}
	b.cmd.Env = baseEnv()
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.stop(t) })
	return b
}

// stop ends lfs and returns its exit code.
func (b *background) stop(t *testing.T) int {
	if b.cmd.ProcessState == nil {
		b.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { b.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("lfs did not stop on SIGTERM")
			b.cmd.Process.Kill()
			<-done
		}
	}
	return b.cmd.ProcessState.ExitCode()
}

// httpGet fetches url until it answers (the container starts meanwhile).
func httpGet(t *testing.T, b *background, url string) string {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := c.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(body)
		}
		if time.Now().After(deadline) || b.cmd.ProcessState != nil {
			t.Fatalf("GET %s: %v\nlfs stderr: %s", url, err, clip(b.stderr.String()))
		}
	}
}

// TestNetworkPublish: busybox httpd in a container of its own network is
// reached from the host through -p, on 127.0.0.1 only unless asked.
func TestNetworkPublish(t *testing.T) {
	needSlirp4netns(t)
	s := runStore(t)
	port := freePort(t)
	b := s.startLfs(t, "run", "--rm", "--init", "--network", "slirp4netns", "-p", fmt.Sprintf("%d:80", port),
		"busybox", "sh", "-c", "mkdir /www && echo hello from httpd > /www/index.html && exec httpd -f -p 80 -h /www")
	if got := httpGet(t, b, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "hello from httpd\n" {
		t.Errorf("GET through -p %d:80: %q", port, got)
	}
	// The default address is the host's loopback, not every interface.
	if ip := hostIPv4(t); ip != "" {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, fmt.Sprint(port)), time.Second); err == nil {
			c.Close()
			t.Errorf("-p %d:80 is reachable on %s, want 127.0.0.1 only", port, ip)
		}
	}
	if code := b.stop(t); code != 143 {
		t.Errorf("lfs run after SIGTERM: exit %d, want 143; stderr %s", code, b.stderr.String())
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still open after the container ended", port)
	}
	waitFor(t, func() bool { return len(orphanSlirps()) == 0 })
}

// orphanSlirps are the slirp4netns processes lfs started (their API
// socket is in an lfs-slirp- directory) whose lfs is gone.
func orphanSlirps() []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.HasPrefix(b, []byte("slirp4netns\x00")) || !bytes.Contains(b, []byte("/lfs-slirp-")) {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 1 {
			if _, err := os.Stat("/proc/" + f[1] + "/exe"); f[1] == "1" || err != nil {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

// hostIPv4 is one of this machine's non-loopback IPv4 addresses, or "".
func hostIPv4(t *testing.T) string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

// serveHTTP serves "from the host" on addr.
func serveHTTP(t *testing.T, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from the host\n")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// TestNetworkOutbound: the container reaches the host's address as any
// outside one, but not the host's loopback unless allowed; /etc/hosts
// and /etc/resolv.conf are shaped by --add-host and --dns*.
func TestNetworkOutbound(t *testing.T) {
	needSlirp4netns(t)
	s := runStore(t)
	ip := hostIPv4(t)
	if ip == "" {
		t.Skip("the host has no non-loopback IPv4 address to reach")
	}
	outside := serveHTTP(t, ip+":0")
	_, loPort, _ := net.SplitHostPort(serveHTTP(t, "127.0.0.1:0"))
	out, stderr, code := s.run(t, "run", "--rm", "--network", "slirp4netns", "--add-host", "db:10.1.2.3",
		"--add-host", "outside:host-gateway", "--dns", "9.9.9.9", "--dns-search", "example.com", "--dns-option", "ndots:2",
		"-h", "box", "busybox", "sh", "-c", fmt.Sprintf(
			"wget -qO- http://%s/; wget -qO- -T 2 http://10.0.2.2:%s/ || echo no loopback; cat /etc/hosts /etc/resolv.conf", outside, loPort))
	want := "from the host\nno loopback\n" +
		"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n" +
		"10.1.2.3\tdb\n" + ip + "\toutside\n10.0.2.100\tbox\n" +
		"nameserver 9.9.9.9\nsearch example.com\noptions ndots:2\n"
	if code != 0 || out != want {
		t.Errorf("run --network slirp4netns: exit %d\n%s\nwant\n%s\nstderr: %s", code, out, want, stderr)
	}
	// With allow_host_loopback the gateway is the host's loopback.
	out, stderr, code = s.run(t, "run", "--rm", "--network", "slirp4netns:allow_host_loopback=true",
		"busybox", "wget", "-qO-", "http://10.0.2.2:"+loPort+"/")
	if code != 0 || out != "from the host\n" {
		t.Errorf("wget the host's loopback with allow_host_loopback: exit %d, %q, %s", code, out, stderr)
	}
	// The default DNS is slirp4netns's forwarder.
	out, _, _ = s.run(t, "run", "--rm", "--network", "slirp4netns", "busybox", "grep", "nameserver", "/etc/resolv.conf")
	if out != "nameserver 10.0.2.3\n" {
		t.Errorf("resolv.conf nameservers: %q, want 10.0.2.3 only", out)
	}
}

// TestNetworkBadInput: bad -p, --add-host, --dns and a port in use fail
// with one line and exit 125, leaving no container and nothing mounted.
func TestNetworkBadInput(t *testing.T) {
	needSlirp4netns(t)
	s := runStore(t)
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--network", "slirp4netns", "-p", "99999:80"}, "invalid hostPort: 99999"},
		{[]string{"--network", "slirp4netns", "-p", "80/icmp"}, "invalid proto: icmp"},
		{[]string{"-p", "8080:80"}, "publish: ports can only be published with --network slirp4netns, not host"},
		{[]string{"--network", "bridge"}, "network bridge not found"},
		{[]string{"--add-host", "nocolon"}, `bad format for add-host: "nocolon"`},
		{[]string{"--dns", "1.2.3"}, "IP address is not correctly formatted: 1.2.3"},
		{[]string{"--network", "slirp4netns", "-p", fmt.Sprintf("%d:80", port)},
			fmt.Sprintf("start container: publish 127.0.0.1:%d/tcp: bind: address already in use", port)},
	} {
		args := append(append([]string{"run", "--rm"}, tc.args...), "busybox", "true")
		if msg := checkError(t, runWith(t, opts{}, s.args(args)...), args); msg != tc.msg {
			t.Errorf("lfs %s: %q, want %q", strings.Join(args, " "), msg, tc.msg)
		}
	}
	if c := s.containers(t); len(c) != 0 {
		t.Errorf("failed runs left containers: %v", c)
	}
}

// TestNetworkCreateStart: lfs start runs a created container with the
// network it was created with.
func TestNetworkCreateStart(t *testing.T) {
	needSlirp4netns(t)
	s := runStore(t)
	id := strings.TrimSpace(s.mustRun(t, "create", "--network", "slirp4netns", "--add-host", "db:10.1.2.3",
		"busybox", "sh", "-c", "ip -4 addr show tap0 | grep -o 'inet [0-9./]*'; grep db /etc/hosts"))
	out := s.mustRun(t, "start", id)
	if out != "inet 10.0.2.100/24\n10.1.2.3\tdb\n" {
		t.Errorf("start of a slirp4netns container: %q", out)
	}
	// docker inspect's fields for the flags.
	id = strings.TrimSpace(s.mustRun(t, "create", "--network", "slirp4netns", "-p", "127.0.0.2:8080:80",
		"--add-host", "h:host-gateway", "--dns", "9.9.9.9", "busybox", "true"))
	out = s.mustRun(t, "inspect", "--format", "{{.HostConfig.NetworkMode}} {{json .HostConfig.PortBindings}} {{.HostConfig.ExtraHosts}} {{.HostConfig.Dns}}", id)
	if want := `slirp4netns {"80/tcp":[{"HostIp":"127.0.0.2","HostPort":"8080"}]} [h:host-gateway] [9.9.9.9]` + "\n"; out != want {
		t.Errorf("inspect: %q; want %q", out, want)
	}
}

// TestNetworkRootless: an unprivileged user's container gets the same
// network: a published httpd answers, and the host's address is reached
// from inside.
func TestNetworkRootless(t *testing.T) {
	needSlirp4netns(t)
	needFUSE(t)
	u := rootlessUser(t, "lfs-network", true)
	s := u.store(t)
	u.mustRun(t, s, "load", "-i", getFixtures(t).dockerArchive)
	port := freePort(t)
	b := &background{cmd: exec.Command(lfsBin, s.args([]string{"run", "--rm", "--init", "--network", "slirp4netns",
		"-p", fmt.Sprintf("%d:80", port), "busybox", "sh", "-c",
		"mkdir /www && echo rootless httpd > /www/index.html && exec httpd -f -p 80 -h /www"})...)}
	b.cmd.Dir, b.cmd.Env = "/", append(baseEnv(), "HOME=/nonexistent")
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}}
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.stop(t) })
	if got := httpGet(t, b, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "rootless httpd\n" {
		t.Errorf("GET through rootless -p %d:80: %q", port, got)
	}
	if code := b.stop(t); code != 143 {
		t.Errorf("rootless lfs run after SIGTERM: exit %d, want 143; stderr %s", code, b.stderr.String())
	}
	if ip := hostIPv4(t); ip != "" {
		outside := serveHTTP(t, ip+":0")
		r := u.run(t, s, nil, "run", "--rm", "--network", "slirp4netns", "busybox", "sh", "-c",
			"wget -qO- http://"+outside+"/; ip -4 addr show tap0 | grep -o 'inet [0-9./]*'")
		if r.code != 0 || r.stdout != "from the host\ninet 10.0.2.100/24\n" {
			t.Errorf("rootless outbound: exit %d, %q, stderr %s", r.code, r.stdout, r.stderr)
		}
	}
	waitFor(t, func() bool { return len(orphanSlirps()) == 0 })
}
