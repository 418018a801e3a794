package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The committed tables are what the generator makes from this machine's
// headers and the required x/sys: a hand edit, or headers that moved,
// show here.
func TestGeneratedFileUpToDate(t *testing.T) {
	if _, err := os.Stat(headerDir + "/unistd_64.h"); err != nil {
		t.Skipf("needs the kernel headers (linux-libc-dev): %v", err)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
	if err != nil {
		t.Skipf("cannot find golang.org/x/sys: %v", err)
	}
	got, err := generate(headerDir, strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../zsyscalls.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("seccomp/zsyscalls.go is stale: run go generate ./seccomp/")
	}
}
