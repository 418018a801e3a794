package reference

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	const d = "sha256:0123456789012345678901234567890123456789012345678901234567890123"
	for _, tc := range []struct{ in, full, familiar string }{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
		{"docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"index.docker.io/user/app:v1", "docker.io/user/app:v1", "user/app:v1"},
		{"user/app", "docker.io/user/app:latest", "user/app:latest"},
		{"localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest"},
		{"quay.io/a/b/c:t", "quay.io/a/b/c:t", "quay.io/a/b/c:t"},
		{"busybox@" + d, "docker.io/library/busybox@" + d, "busybox@" + d},
		{"busybox:1@" + d, "docker.io/library/busybox:1@" + d, "busybox:1@" + d},
	} {
		r, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if r.String() != tc.full || r.Familiar() != tc.familiar {
			t.Errorf("Parse(%q) = %q / %q, want %q / %q", tc.in, r.String(), r.Familiar(), tc.full, tc.familiar)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{"", "Busybox", "x:y:z", "a@sha256:12", " busybox", "-x", "a//b", "a:"} {
		if _, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) err = %v, want ErrInvalid", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"busybox", "localhost:5000/a/b:c", "x@sha256:0123456789012345678901234567890123456789012345678901234567890123", "A", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		// What we print must parse back to the same reference.
		for _, out := range []string{r.String(), r.Familiar()} {
			r2, err := Parse(out)
			if err != nil || r2 != r {
				t.Fatalf("Parse(%q) = %+v; reparse of %q = %+v, %v", s, r, out, r2, err)
			}
		}
	})
}
