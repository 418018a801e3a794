package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it,
// written as PEM files into dir: ca.crt, server.crt, server.key; and a
// client certificate, client.cert and client.key.
func testCA(t *testing.T, dir string) (caPath, certPath, keyPath string) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lfs test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey := key()
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	// A client certificate too, for registries that ask for one.
	cliKey := key()
	cliTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "lfs test client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	cliDER, err := x509.CreateCertificate(rand.Reader, cliTmpl, ca, &cliKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cliKeyDER, err := x509.MarshalECPrivateKey(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	write("client.cert", "CERTIFICATE", cliDER)
	write("client.key", "EC PRIVATE KEY", cliKeyDER)
	return write("ca.crt", "CERTIFICATE", caDER), write("server.crt", "CERTIFICATE", srvDER), write("server.key", "EC PRIVATE KEY", keyDER)
}

// A registry on 127.0.0.1 that speaks TLS with a certificate from a CA
// lfs does not know: refused with one line naming the certificate; trusted
// once the CA is in HOST:PORT/ca.crt under a certs.d directory
// ($LFS_CERTS_D here); reached anyway with --tls-verify=false.
func TestRegistryTLS(t *testing.T) {
	f := getFixtures(t)
	dir := t.TempDir()
	caPath, cert, key := testCA(t, dir)
	reg := startRegistryWith(t, registryOpts{tlsCert: cert, tlsKey: key})
	s := setup(t)
	reg.skopeoPush(t, "oci:"+f.layout+":base", "tls/base:1")
	ref := reg.host + "/tls/base:1"
	certsD := filepath.Join(dir, "certs.d")
	if err := os.MkdirAll(filepath.Join(certsD, reg.host), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"LFS_CERTS_D=" + certsD}
	lfs := func(st *store, args ...string) result { return runWith(t, opts{env: env}, st.args(args)...) }

	before := s.snapshot(t)
	msg := checkError(t, lfs(s, "pull", ref), []string{"pull", ref})
	for _, w := range []string{"certificate", reg.host, "unknown authority"} {
		if !strings.Contains(msg, w) {
			t.Errorf("pull from an untrusted registry: %q lacks %q", msg, w)
		}
	}
	s.assertUnchanged(t, before)
	checkError(t, lfs(s, "push", "--compression-format", "zstd", ref, ref), []string{"push"})
	s.assertUnchanged(t, before)

	if r := lfs(s, "pull", "-q", "--tls-verify=false", ref); r.code != 0 {
		t.Fatalf("pull --tls-verify=false: exit %d: %s", r.code, r.stderr)
	}
	if id := s.id(t, ref); id != f.base.ID() {
		t.Errorf("pull over TLS: ID %s, want %s", id, f.base.ID())
	}

	data, err := os.ReadFile(caPath)
	if err == nil {
		err = os.WriteFile(filepath.Join(certsD, reg.host, "ca.crt"), data, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t)
	if r := lfs(s2, "pull", "-q", ref); r.code != 0 {
		t.Fatalf("pull with the CA in certs.d: exit %d: %s", r.code, r.stderr)
	}
	if id := s2.id(t, ref); id != f.base.ID() {
		t.Errorf("pull with the CA in certs.d: ID %s, want %s", id, f.base.ID())
	}
	if r := lfs(s2, "push", ref, reg.host+"/tls/again:1"); r.code != 0 {
		t.Errorf("push with the CA in certs.d: exit %d: %s", r.code, r.stderr)
	}
}

// The third mode: TLS with the test's CA and htpasswd basic auth, as a
// private registry runs. login checks the password over TLS, and pull and
// push then use what it stored.
func TestRegistryTLSBasicAuth(t *testing.T) {
	f := getFixtures(t)
	dir := t.TempDir()
	caPath, cert, key := testCA(t, dir)
	reg := startRegistryWith(t, registryOpts{tlsCert: cert, tlsKey: key, user: "dave", password: "tl5pass"})
	s := setup(t)
	certsD := filepath.Join(dir, "certs.d")
	if err := os.MkdirAll(filepath.Join(certsD, reg.host), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(caPath)
	if err == nil {
		err = os.WriteFile(filepath.Join(certsD, reg.host, "ca.crt"), data, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	reg.skopeoPush(t, "oci:"+f.layout+":two", "secure/two:1", "dave:tl5pass")
	ref := reg.host + "/secure/two:1"
	env := []string{"LFS_CERTS_D=" + certsD, "REGISTRY_AUTH_FILE=" + filepath.Join(dir, "auth.json"), "HOME=" + dir}
	lfs := func(stdin string, args ...string) result {
		return runWith(t, opts{env: env, stdin: strings.NewReader(stdin)}, s.args(args)...)
	}
	before := s.snapshot(t)
	if msg := checkError(t, lfs("", "pull", ref), []string{"pull"}); !containsAnyFold(msg, []string{"unauthorized", "authentication"}) {
		t.Errorf("pull over TLS without credentials: %q", msg)
	}
	s.assertUnchanged(t, before)
	checkError(t, lfs("wrong\n", "login", "-u", "dave", "--password-stdin", reg.host), []string{"login"})
	if r := lfs("tl5pass\n", "login", "-u", "dave", "--password-stdin", reg.host); r.code != 0 {
		t.Fatalf("login over TLS: exit %d: %s", r.code, r.stderr)
	}
	if r := lfs("", "pull", "-q", ref); r.code != 0 {
		t.Fatalf("pull over TLS with basic auth: exit %d: %s", r.code, r.stderr)
	}
	if id := s.id(t, ref); id != f.two.ID() {
		t.Errorf("pulled %s, want %s", id, f.two.ID())
	}
	if r := lfs("", "push", ref, reg.host+"/secure/again:1"); r.code != 0 {
		t.Fatalf("push over TLS with basic auth: exit %d: %s", r.code, r.stderr)
	}
	if got := reg.manifestDigest(t, "secure/again:1", "dave:tl5pass"); got != f.two.manifestDigest {
		t.Errorf("pushed over TLS: digest %s, want %s", got, f.two.manifestDigest)
	}
}

// A registry that wants a client certificate (TLS client auth, as with
// docker's certs.d/HOST/client.cert): refused without one, served with
// the one in certs.d.
func TestRegistryClientCertificate(t *testing.T) {
	f := getFixtures(t)
	dir := t.TempDir()
	caPath, cert, key := testCA(t, dir)
	reg := startRegistryWith(t, registryOpts{tlsCert: cert, tlsKey: key, clientCA: caPath})
	s := setup(t)
	// skopeo's certificates, all three; lfs's certs.d first without the
	// client's.
	skopeoDir := filepath.Join(dir, "skopeo")
	hostDir := filepath.Join(dir, "certs.d", reg.host)
	link := func(name, into string) {
		if err := os.MkdirAll(into, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(dir, name), filepath.Join(into, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"ca.crt", "client.cert", "client.key"} {
		link(n, skopeoDir)
	}
	link("ca.crt", hostDir)
	sh(t, "skopeo", "copy", "-q", "--dest-cert-dir", skopeoDir, "oci:"+f.layout+":base", "docker://"+reg.host+"/mtls/base:1")
	ref := reg.host + "/mtls/base:1"
	env := []string{"LFS_CERTS_D=" + filepath.Join(dir, "certs.d")}
	before := s.snapshot(t)
	msg := checkError(t, runWith(t, opts{env: env}, s.args([]string{"pull", ref})...), []string{"pull"})
	if !containsAnyFold(msg, []string{"certificate", "tls"}) {
		t.Errorf("pull without a client certificate: %q", msg)
	}
	s.assertUnchanged(t, before)
	link("client.cert", hostDir)
	link("client.key", hostDir)
	if r := runWith(t, opts{env: env}, s.args([]string{"pull", "-q", ref})...); r.code != 0 {
		t.Fatalf("pull with a client certificate: exit %d: %s", r.code, r.stderr)
	}
	if id := s.id(t, ref); id != f.base.ID() {
		t.Errorf("pulled %s, want %s", id, f.base.ID())
	}
}

// A plain-HTTP registry at an address docker does not trust by default
// (127.0.0.2, not 127.0.0.1) is refused, and reached once the config
// file lists it in insecure-registries.
func TestInsecureRegistries(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistryWith(t, registryOpts{ip: "127.0.0.2"})
	s := setup(t)
	reg.skopeoPush(t, "oci:"+f.layout+":base", "plain/base:1")
	ref := reg.host + "/plain/base:1"
	s.mustFail(t, nil, []string{"http", "tls", "https"}, "pull", ref)
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte("insecure-registries = [\""+reg.host+"\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runWith(t, opts{env: []string{"LFS_CONFIG=" + cfg}}, s.args([]string{"pull", "-q", ref})...); r.code != 0 {
		t.Fatalf("pull from an insecure registry listed in the config: exit %d: %s", r.code, r.stderr)
	}
	if id := s.id(t, ref); id != f.base.ID() {
		t.Errorf("pulled %s, want %s", id, f.base.ID())
	}
}
