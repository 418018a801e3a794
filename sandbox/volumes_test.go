package sandbox

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseMounts(t *testing.T) {
	for _, tc := range []struct {
		kind, in string
		want     Mount
		err      string
	}{
		{"v", "/h:/c", Mount{Type: "bind", Source: "/h", Target: "/c"}, ""},
		{"v", "/h/:/c:ro,Z", Mount{Type: "bind", Source: "/h", Target: "/c", ReadOnly: true}, ""},
		{"v", "./rel:/c", Mount{Type: "bind", Source: "/cwd/rel", Target: "/c"}, ""},
		{"v", "name:/c", Mount{}, "named volumes are not supported"},
		{"v", "/c", Mount{}, "anonymous volumes are not supported"},
		{"v", "/h:c", Mount{}, "must be absolute"},
		{"v", "/h:/", Mount{}, "destination can't be '/'"},
		{"v", "/h:/proc/x", Mount{}, "inside /proc"},
		{"v", "/h:/c:rshared", Mount{}, "propagation rshared"},
		{"v", "/h:/c:bogus", Mount{}, "invalid mode: bogus"},
		{"mount", "type=bind,src=/h,dst=/c,readonly", Mount{Type: "bind", Source: "/h", Target: "/c", ReadOnly: true}, ""},
		{"mount", "type=bind,source=/h,target=/c,readonly=false", Mount{Type: "bind", Source: "/h", Target: "/c"}, ""},
		{"mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770", Mount{Type: "tmpfs", Target: "/t", Options: []string{"size=1048576", "mode=1770"}}, ""},
		{"mount", "source=/h,target=/c", Mount{}, "volume mounts are not supported"},
		{"mount", "type=bind,target=/c", Mount{}, "field Source must not be empty"},
		{"mount", "type=tmpfs,src=/h,target=/c", Mount{}, "field Source must be empty"},
		{"mount", "type=bind,src=/h,target=/c,color=red", Mount{}, "unexpected key 'color'"},
		{"tmpfs", "/t", Mount{Type: "tmpfs", Target: "/t"}, ""},
		{"tmpfs", "/t:size=64m,exec", Mount{Type: "tmpfs", Target: "/t", Options: []string{"size=64m", "exec"}}, ""},
		{"tmpfs", "/t:nonsense", Mount{}, "unknown option"},
	} {
		var m Mount
		var err error
		switch tc.kind {
		case "v":
			m, err = ParseVolume(tc.in, "/cwd")
		case "mount":
			m, err = ParseMount(tc.in, "/cwd")
		default:
			m, err = ParseTmpfs(tc.in)
		}
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrVolume) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: err %v, want ErrVolume with %q", tc.kind, tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(m, tc.want) {
			t.Errorf("%s %s: %+v, %v; want %+v", tc.kind, tc.in, m, err, tc.want)
		}
	}
}
