package sandbox

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func ptr(s string) *string { return &s }

// TestComposeArgs is docker's ENTRYPOINT/CMD table.
func TestComposeArgs(t *testing.T) {
	ep, cmd := []string{"echo", "a"}, []string{"b"}
	tests := []struct {
		name       string
		img        ImageConfig
		args       []string
		entrypoint *string
		want       []string
	}{
		{"entrypoint and cmd", ImageConfig{Entrypoint: ep, Cmd: cmd}, nil, nil, []string{"echo", "a", "b"}},
		{"args replace cmd", ImageConfig{Entrypoint: ep, Cmd: cmd}, []string{"x"}, nil, []string{"echo", "a", "x"}},
		{"cmd only", ImageConfig{Cmd: []string{"sh"}}, nil, nil, []string{"sh"}},
		{"args replace cmd only", ImageConfig{Cmd: []string{"sh"}}, []string{"ls", "-l"}, nil, []string{"ls", "-l"}},
		{"entrypoint only", ImageConfig{Entrypoint: ep}, nil, nil, []string{"echo", "a"}},
		{"shell form cmd", ImageConfig{Cmd: []string{"/bin/sh", "-c", "echo hi"}}, nil, nil, []string{"/bin/sh", "-c", "echo hi"}},
		{"--entrypoint resets cmd", ImageConfig{Entrypoint: ep, Cmd: cmd}, nil, ptr("ls"), []string{"ls"}},
		{"--entrypoint with args", ImageConfig{Entrypoint: ep, Cmd: cmd}, []string{"-l"}, ptr("ls"), []string{"ls", "-l"}},
		{"--entrypoint is one word", ImageConfig{}, nil, ptr("a b"), []string{"a b"}},
		{"--entrypoint \"\" clears it", ImageConfig{Entrypoint: ep, Cmd: cmd}, []string{"id"}, ptr(""), []string{"id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := Compose(tc.img, Options{Args: tc.args, Entrypoint: tc.entrypoint})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(spec.Args, tc.want) {
				t.Errorf("args = %q, want %q", spec.Args, tc.want)
			}
		})
	}
}

func TestComposeNoCommand(t *testing.T) {
	for _, o := range []Options{{}, {Entrypoint: ptr("")}} {
		if _, err := Compose(ImageConfig{Cmd: []string{"sh"}, Entrypoint: []string{}}, Options{Entrypoint: ptr("")}); !errors.Is(err, ErrNoCommand) {
			t.Errorf("cmd reset by --entrypoint \"\": err = %v, want ErrNoCommand", err)
		}
		if _, err := Compose(ImageConfig{}, o); !errors.Is(err, ErrNoCommand) {
			t.Errorf("%+v: err = %v, want ErrNoCommand", o, err)
		}
	}
}

func TestComposeEnv(t *testing.T) {
	tests := []struct {
		name     string
		img, opt []string
		want     []string
	}{
		{"defaults", nil, nil, []string{"PATH=" + DefaultPath, "HOSTNAME=h"}},
		{"image PATH replaces the default in place", []string{"A=1", "PATH=/x"}, nil, []string{"PATH=/x", "HOSTNAME=h", "A=1"}},
		{"-e replaces the image's", []string{"A=1", "B=2"}, []string{"B=3", "C=4"}, []string{"PATH=" + DefaultPath, "HOSTNAME=h", "A=1", "B=3", "C=4"}},
		{"-e HOSTNAME wins", nil, []string{"HOSTNAME=x"}, []string{"PATH=" + DefaultPath, "HOSTNAME=x"}},
		{"-e K unset removes K", []string{"A=1", "B=2"}, []string{"A"}, []string{"PATH=" + DefaultPath, "HOSTNAME=h", "B=2"}},
		{"empty value is a value", nil, []string{"E="}, []string{"PATH=" + DefaultPath, "HOSTNAME=h", "E="}},
		{"last -e wins", nil, []string{"A=1", "A=2"}, []string{"PATH=" + DefaultPath, "HOSTNAME=h", "A=2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := Compose(ImageConfig{Env: tc.img, Cmd: []string{"x"}}, Options{Env: tc.opt, Hostname: "h"})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(spec.Env, tc.want) {
				t.Errorf("env = %q, want %q", spec.Env, tc.want)
			}
		})
	}
}

func TestComposeCwdUser(t *testing.T) {
	for _, tc := range []struct {
		img              ImageConfig
		o                Options
		wantCwd, wantUsr string
	}{
		{ImageConfig{}, Options{}, "/", ""},
		{ImageConfig{WorkingDir: "/app", User: "nobody"}, Options{}, "/app", "nobody"},
		{ImageConfig{WorkingDir: "/app", User: "nobody"}, Options{Workdir: "/w", User: "0:0"}, "/w", "0:0"},
	} {
		tc.img.Cmd = []string{"x"}
		spec, err := Compose(tc.img, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if spec.Cwd != tc.wantCwd || spec.User != tc.wantUsr {
			t.Errorf("%+v %+v: cwd %q user %q, want %q %q", tc.img, tc.o, spec.Cwd, spec.User, tc.wantCwd, tc.wantUsr)
		}
	}
}

func TestParseEnvFile(t *testing.T) {
	in := "# comment\n\nA=1\n  B=two words \nC\nD\nE=\r\nF=x=y\n"
	lookup := func(k string) (string, bool) {
		if k == "C" {
			return "from-env", true
		}
		return "", false
	}
	got, err := ParseEnvFile(strings.NewReader(in), "f", lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=1", "B=two words ", "C=from-env", "D", "E=", "F=x=y"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"=v\n", "A B=1\n"} {
		if _, err := ParseEnvFile(strings.NewReader(bad), "f", lookup); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

const passwd = `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000::/home/app:/bin/sh
nohome:x:1001:1001:::/bin/sh
`
const group = `root:x:0:
nogroup:x:65534:
app:x:1000:
audio:x:29:app,other
video:x:44:app
`

func TestResolveUser(t *testing.T) {
	tests := []struct {
		spec string
		want Credentials
	}{
		{"", Credentials{0, 0, []int{0}, "/root"}},
		{"root", Credentials{0, 0, []int{0}, "/root"}},
		{"nobody", Credentials{65534, 65534, []int{65534}, "/nonexistent"}},
		{"app", Credentials{1000, 1000, []int{1000, 29, 44}, "/home/app"}},
		{"1000", Credentials{1000, 1000, []int{1000, 29, 44}, "/home/app"}},
		{"app:audio", Credentials{1000, 29, []int{29}, "/home/app"}},
		{"app:65534", Credentials{1000, 65534, []int{65534}, "/home/app"}},
		{"4242", Credentials{4242, 0, []int{0}, "/"}},
		{"4242:4343", Credentials{4242, 4343, []int{4343}, "/"}},
		{"nohome", Credentials{1001, 1001, []int{1001}, "/"}},
	}
	for _, tc := range tests {
		got, err := ResolveUser(tc.spec, strings.NewReader(passwd), strings.NewReader(group))
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if got.UID != tc.want.UID || got.GID != tc.want.GID || got.Home != tc.want.Home || !slices.Equal(got.Groups, tc.want.Groups) {
			t.Errorf("%q: %+v, want %+v", tc.spec, got, tc.want)
		}
	}
	for _, bad := range []string{"nosuch", "app:nosuch", "-1"} {
		if _, err := ResolveUser(bad, strings.NewReader(passwd), strings.NewReader(group)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// Without passwd (a FROM-scratch image), numbers still resolve.
	if got, err := ResolveUser("7:8", nil, nil); err != nil || got.UID != 7 || got.GID != 8 || got.Home != "/" {
		t.Errorf("7:8 without passwd: %+v, %v", got, err)
	}
}
