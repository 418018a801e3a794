package format

import (
	"bytes"
	"errors"
	"testing"
)

type inspectConfig struct {
	Env    []string
	Labels map[string]string
}

// inspected is shaped like docker's image inspect response: the Go name
// ID is "Id" in JSON, which is what docker users write.
type inspected struct {
	ID       string `json:"Id"`
	RepoTags []string
	Size     int64
	Config   *inspectConfig
}

var objs = []any{
	inspected{ID: "sha256:aaa", RepoTags: []string{"alpine:latest"}, Size: 9007199254740993,
		Config: &inspectConfig{Env: []string{"PATH=/bin"}, Labels: map[string]string{"a": "<b>"}}},
	&inspected{ID: "sha256:bbb", Size: 2},
}

func TestObject(t *testing.T) {
	tests := []struct {
		name, format string
		objs         []any
		want         string
	}{
		{"empty format is an indented array", "", objs[1:], `[
    {
        "Id": "sha256:bbb",
        "RepoTags": null,
        "Size": 2,
        "Config": null
    }
]
`},
		{"empty format with nothing", "", nil, "[]\n"},
		{"json is a compact array, HTML escaped", "json", objs,
			`[{"Id":"sha256:aaa","RepoTags":["alpine:latest"],"Size":9007199254740993,"Config":{"Env":["PATH=/bin"],"Labels":{"a":"\u003cb\u003e"}}},{"Id":"sha256:bbb","RepoTags":null,"Size":2,"Config":null}]` + "\n"},
		{"json with nothing", "json", nil, "[]\n"},
		{"template on Go names", "{{.ID}} {{.Size}}", objs,
			"sha256:aaa 9007199254740993\nsha256:bbb 2\n"},
		{"template on JSON names falls back to the JSON form", "{{.Id}} {{.Size}}", objs,
			"sha256:aaa 9007199254740993\nsha256:bbb 2\n"},
		{"json function does not escape HTML", "{{json .Config.Labels}}", objs[:1],
			`{"a":"<b>"}` + "\n"},
		{"missing map key on the Go value prints <no value>", "{{.Config.Labels.zzz}}", objs[:1],
			"<no value>\n"},
		{"escapes are not expanded", `{{.Id}}\t{{index .RepoTags 0}}\n`, objs[:1],
			`sha256:aaa\talpine:latest\n` + "\n"},
		{"helpers", `{{join .Config.Env ","}} {{upper .ID}} {{truncate .ID 9}}`, objs[:1],
			"PATH=/bin SHA256:AAA sha256:aa\n"},
		{"template with nothing prints a newline", "{{.ID}}", nil, "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Object(&buf, tt.format, tt.objs); err != nil {
				t.Fatalf("Object: %v", err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("Object(%q) =\n%s\nwant\n%s", tt.format, got, tt.want)
			}
		})
	}
}

func TestObjectErrors(t *testing.T) {
	tests := []struct {
		name, format string
		wantOut      string
		wantErr      string
	}{
		{"parse error writes nothing", "{{.ID", "",
			"template parsing error: template: :1: unclosed action"},
		{"unknown function", "{{nope .}}", "",
			`template parsing error: template: :1: function "nope" not defined`},
		{"missing field fails every object, after a newline", "{{.Nope}}", "\n",
			`template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"` + "\n" +
				`template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"`},
		{"the objects that work are still written", "{{.Config.Env}}", "[PATH=/bin]\n",
			`template parsing error: template: :1:9: executing "" at <.Config.Env>: nil pointer evaluating interface {}.Env`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Object(&buf, tt.format, objs)
			if err == nil {
				t.Fatalf("Object(%q) succeeded, wrote %q", tt.format, buf.String())
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error %q\nwant      %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrTemplate) {
				t.Errorf("error %v does not wrap ErrTemplate", err)
			}
			if got := buf.String(); got != tt.wantOut {
				t.Errorf("wrote %q, want %q", got, tt.wantOut)
			}
		})
	}
}
