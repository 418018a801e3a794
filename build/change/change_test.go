package change

import (
	"errors"
	"reflect"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestApply(t *testing.T) {
	cfg := v1.Config{Env: []string{"PATH=/bin"}}
	err := Apply(&cfg, []string{
		`CMD ["sh", "-c", "echo hi"]`,
		`ENTRYPOINT /entry --flag`,
		`ENV A=1 B="two words"`,
		`ENV C $A-x`,
		`EXPOSE 80 53/udp`,
		`HEALTHCHECK --interval=5s --retries=2 CMD curl -f http://localhost/`,
		`LABEL org.example.a=b "c d"=e`,
		`ONBUILD RUN make`,
		`USER nobody:nogroup`,
		`VOLUME ["/data", "/cache"]`,
		`WORKDIR /srv`,
		`WORKDIR app`,
		`STOPSIGNAL SIGINT`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := v1.Config{
		Env:          []string{"PATH=/bin", "A=1", "B=two words", "C=1-x"},
		Cmd:          []string{"sh", "-c", "echo hi"},
		Entrypoint:   []string{"/bin/sh", "-c", "/entry --flag"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
		Healthcheck:  &v1.HealthConfig{Test: []string{"CMD-SHELL", "curl -f http://localhost/"}, Interval: 5 * time.Second, Retries: 2},
		Labels:       map[string]string{"org.example.a": "b", "c d": "e"},
		OnBuild:      []string{"RUN make"},
		User:         "nobody:nogroup",
		Volumes:      map[string]struct{}{"/data": {}, "/cache": {}},
		WorkingDir:   "/srv/app",
		StopSignal:   "SIGINT",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestApplyRefuses(t *testing.T) {
	for _, ch := range []string{"RUN rm -rf /", "FROM busybox", "COPY a b", "NOTANINSTRUCTION x", "ENV", "CMD a\nCMD b"} {
		var cfg v1.Config
		if err := Apply(&cfg, []string{ch}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", ch, err)
		}
	}
}

func TestWorkdirAndPorts(t *testing.T) {
	for _, c := range []struct{ cur, req, want string }{
		{"", "app", "/app"}, {"/srv", "app/", "/srv/app"}, {"/srv", "../x", "/x"},
		{"/srv", "/abs/", "/abs/"}, // absolute paths are kept as written, as docker does
	} {
		if got := Workdir(c.cur, c.req); got != c.want {
			t.Errorf("Workdir(%q, %q) = %q, want %q", c.cur, c.req, got, c.want)
		}
	}
	got, err := ExposedPorts([]string{"80", "53/UDP", "8000-8002/tcp"})
	want := []string{"80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ExposedPorts = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"x", "90-80", "70000"} {
		if _, err := ExposedPorts([]string{bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("ExposedPorts(%q): %v, want ErrInvalid", bad, err)
		}
	}
}
