package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenServer issues the bearer tokens docker-registry's token auth asks
// for (distribution's token spec): a JWT signed with a key whose
// self-signed certificate the registry trusts, granting what was asked
// to a user whose password is right.
type tokenServer struct {
	user     string
	password string
	key      *ecdsa.PrivateKey
	certDER  []byte
	certPath string

	mu     sync.Mutex
	scopes []string // of the tokens issued, in order
	denied int
}

const tokenService, tokenIssuer = "lfs-test-registry", "lfs-test-issuer"

func startTokenServer(t *testing.T, user, password string) *tokenServer {
	t.Helper()
	ts := &tokenServer{user: user, password: password}
	var err error
	if ts.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "lfs test token signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	if ts.certDER, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ts.key.PublicKey, ts.key); err != nil {
		t.Fatal(err)
	}
	ts.certPath = filepath.Join(t.TempDir(), "token.crt")
	if err := os.WriteFile(ts.certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.certDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return ts
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	u, p, ok := r.BasicAuth()
	if !ok || u != ts.user || p != ts.password {
		ts.mu.Lock()
		ts.denied++
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}`)
		return
	}
	type access struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	var granted []access
	scopes := r.URL.Query()["scope"]
	for _, sc := range scopes {
		for _, one := range strings.Split(sc, " ") {
			parts := strings.Split(one, ":")
			if len(parts) < 3 {
				continue
			}
			granted = append(granted, access{parts[0], strings.Join(parts[1:len(parts)-1], ":"), strings.Split(parts[len(parts)-1], ",")})
		}
	}
	ts.mu.Lock()
	ts.scopes = append(ts.scopes, strings.Join(scopes, " "))
	ts.mu.Unlock()
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss": tokenIssuer, "sub": u, "aud": tokenService,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": fmt.Sprint(now.UnixNano()), "access": granted,
	})
	header, _ := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(ts.certDER)}})
	b64 := base64.RawURLEncoding.EncodeToString
	signing := b64(header) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signing))
	rr, ss, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	token := signing + "." + b64(sig)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": token, "access_token": token, "expires_in": 300, "issued_at": now.Format(time.RFC3339)})
}

func (ts *tokenServer) issued() ([]string, int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.scopes...), ts.denied
}

// A registry that wants bearer tokens from a token server: no token, no
// pull; a wrong password is refused at login; with the right one, pull
// and push get tokens for exactly the scopes they need. The token server
// answers on the registry's own address (a front proxy routes /token to
// it), as go-containerregistry refuses a realm on another private or
// loopback address.
func TestRegistryBearerToken(t *testing.T) {
	f := getFixtures(t)
	ts := startTokenServer(t, "bob", "t0ken")
	front := newProxy(t)
	front.add(func(r *http.Request) bool { return r.URL.Path == "/token" }, func(w http.ResponseWriter, r *http.Request, _ http.Handler) { ts.serve(w, r) })
	backend := startRegistryWith(t, registryOpts{auth: fmt.Sprintf("  token:\n    realm: http://%s/token\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
		front.host, tokenService, tokenIssuer, ts.certPath)})
	front.forward(backend.host)
	reg := &testRegistry{host: front.host}
	s := setup(t)
	reg.skopeoPush(t, "oci:"+f.layout+":base", "team/base:1", "bob:t0ken")
	ref := reg.host + "/team/base:1"
	env := []string{"REGISTRY_AUTH_FILE=" + filepath.Join(t.TempDir(), "auth.json"), "HOME=" + t.TempDir()}
	lfs := func(stdin string, args ...string) result {
		return runWith(t, opts{env: env, stdin: strings.NewReader(stdin)}, s.args(args)...)
	}

	before := s.snapshot(t)
	if msg := checkError(t, lfs("", "pull", ref), []string{"pull"}); !containsAnyFold(msg, []string{"unauthorized", "authentication"}) {
		t.Errorf("pull without a token: %q", msg)
	}
	s.assertUnchanged(t, before)
	if msg := checkError(t, lfs("nope\n", "login", "-u", "bob", "--password-stdin", reg.host), []string{"login"}); !containsAnyFold(msg, []string{"unauthorized", "password"}) {
		t.Errorf("login with a wrong password: %q", msg)
	}
	if _, denied := ts.issued(); denied == 0 {
		t.Error("the token server was never asked with the wrong password")
	}
	if r := lfs("t0ken\n", "login", "-u", "bob", "--password-stdin", reg.host); r.code != 0 || !strings.Contains(r.stdout, "Login Succeeded") {
		t.Fatalf("login: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := lfs("", "pull", "-q", ref); r.code != 0 {
		t.Fatalf("pull with a token: %s", r.stderr)
	}
	if id := s.id(t, ref); id != f.base.ID() {
		t.Errorf("pulled %s, want %s", id, f.base.ID())
	}
	if r := lfs("", "push", ref, reg.host+"/team/copy:1"); r.code != 0 {
		t.Fatalf("push with a token: %s", r.stderr)
	}
	scopes, _ := ts.issued()
	joined := strings.Join(scopes, "\n")
	for _, want := range []string{"repository:team/base:pull", "repository:team/copy:push,pull"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no token asked for %q; scopes asked:\n%s", want, joined)
		}
	}
	if got := reg.manifestDigest(t, "team/copy:1", "bob:t0ken"); got != f.base.manifestDigest {
		t.Errorf("pushed with a token: digest %s, want %s", got, f.base.manifestDigest)
	}
}

// Credential helpers, as docker runs them: credHelpers picks one per
// registry for reading, credsStore is where login stores and logout
// erases.
func TestRegistryCredentialHelper(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "carol", "h3lper")
	s := setup(t)
	reg.skopeoPush(t, "oci:"+f.layout+":base", "helped/base:1", "carol:h3lper")
	ref := reg.host + "/helped/base:1"

	dir := t.TempDir()
	helper := fmt.Sprintf(`#!/bin/sh
# docker-credential-lfstest: keeps one credential in %[1]s/creds
echo "$1" >> %[1]s/calls
case "$1" in
get) cat > %[1]s/asked; if [ -f %[1]s/creds ]; then cat %[1]s/creds; else echo "credentials not found in native keychain"; exit 1; fi ;;
store) cat > %[1]s/creds ;;
erase) cat > %[1]s/erased; rm -f %[1]s/creds ;;
list) echo '{}' ;;
esac
`, dir)
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-lfstest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	authFile := filepath.Join(dir, "config.json")
	write := func(cfg string) {
		if err := os.WriteFile(authFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string) string {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		return string(data)
	}
	env := []string{"REGISTRY_AUTH_FILE=" + authFile, "HOME=" + dir, "PATH=" + bin + ":" + os.Getenv("PATH")}
	lfs := func(stdin string, args ...string) result {
		return runWith(t, opts{env: env, stdin: strings.NewReader(stdin)}, s.args(args)...)
	}

	// credHelpers: the helper answers for this registry.
	write(fmt.Sprintf(`{"credHelpers":{%q:"lfstest"}}`, reg.host))
	if err := os.WriteFile(filepath.Join(dir, "creds"), []byte(fmt.Sprintf(`{"ServerURL":%q,"Username":"carol","Secret":"h3lper"}`, reg.host)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := lfs("", "pull", "-q", ref); r.code != 0 {
		t.Fatalf("pull with credentials from a helper: exit %d: %s", r.code, r.stderr)
	}
	if asked := strings.TrimSpace(read("asked")); asked != reg.host {
		t.Errorf("the helper was asked for %q, want %q", asked, reg.host)
	}

	// credsStore: login stores through the helper, not in the file.
	os.Remove(filepath.Join(dir, "creds"))
	write(`{"credsStore":"lfstest"}`)
	if r := lfs("h3lper\n", "login", "-u", "carol", "--password-stdin", reg.host); r.code != 0 {
		t.Fatalf("login with a credsStore: exit %d: %s", r.code, r.stderr)
	}
	if c := read("creds"); !strings.Contains(c, `"Username":"carol"`) || !strings.Contains(c, `"Secret":"h3lper"`) {
		t.Errorf("the helper stored %q", c)
	}
	if data, _ := os.ReadFile(authFile); strings.Contains(string(data), "h3lper") || strings.Contains(string(data), base64.StdEncoding.EncodeToString([]byte("carol:h3lper"))) {
		t.Errorf("login with a credsStore wrote the password in the file:\n%s", data)
	}
	s2 := newStore(t)
	if r := runWith(t, opts{env: env}, s2.args([]string{"pull", "-q", ref})...); r.code != 0 {
		t.Fatalf("pull with credentials in the credsStore: exit %d: %s", r.code, r.stderr)
	}
	if r := lfs("", "logout", reg.host); r.code != 0 || !strings.Contains(r.stdout, "Removing login credentials for "+reg.host) {
		t.Errorf("logout: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if erased := strings.TrimSpace(read("erased")); erased != reg.host {
		t.Errorf("logout erased %q from the helper, want %q", erased, reg.host)
	}
}

// On a terminal, login asks for what the flags do not give, as docker
// login does.
func TestLoginPrompts(t *testing.T) {
	getFixtures(t)
	needTools(t, "script", "stty")
	reg := startRegistry(t, "erin", "pr0mpt")
	s := setup(t)
	authFile := filepath.Join(t.TempDir(), "auth.json")
	cmdline := "stty rows 40 cols 120; exec " + lfsBin + " " + strings.Join(s.args([]string{"login", reg.host}), " ")
	cmd := exec.Command("script", "-qefc", cmdline, "/dev/null")
	cmd.Env = append(baseEnv(), "REGISTRY_AUTH_FILE="+authFile)
	cmd.Stdin = strings.NewReader("erin\npr0mpt\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("login on a terminal: %v\n%q", err, out)
	}
	for _, want := range []string{"Username: ", "Password: ", "Login Succeeded"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("login on a terminal: no %q in\n%q", want, out)
		}
	}
	if data, err := os.ReadFile(authFile); err != nil || !strings.Contains(string(data), reg.host) {
		t.Errorf("auth file after login on a terminal: %s (%v)", data, err)
	}
}
