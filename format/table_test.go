package format

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// image is a row shaped like docker's image context: some values are
// fields, some methods, one on the pointer receiver.
type image struct {
	Repository string
	Tag        string
	id         string
	CreatedAt  string
	Secret     string `json:"-"`
}

func (i image) ID() string            { return TruncateID(i.id) }
func (i *image) CreatedSince() string { return "2 weeks ago" }
func (i image) Size() string          { return "7.33MB" }
func (i image) Label(k string) string { return "label-" + k } // not a JSON key: takes an argument

// marshaled is a row with its own JSON form.
type marshaled struct{ Name string }

func (marshaled) MarshalJSON() ([]byte, error) { return []byte(`{"custom":"<x>"}`), nil }

const defaultImages = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"

var imageHeaders = Columns{
	{"Repository", "REPOSITORY"},
	{"Tag", "TAG"},
	{"ID", "IMAGE ID"},
	{"CreatedSince", "CREATED"},
	{"Size", "SIZE"},
}.Headers()

var images = []any{
	image{Repository: "alpine", Tag: "latest", id: "sha256:c1aabb73d2339c5ebaa3681de2e9d9c18d57485045a4e311d9f8004bec208d67", CreatedAt: "2024-01-01"},
	&image{Repository: "<none>", Tag: "<none>", id: "sha256:0123456789abcdef", CreatedAt: "2024-02-02"},
}

func TestTable(t *testing.T) {
	// The first golden is docker images' own output: minimum width 10,
	// padding 3, so "TAG" takes 10 columns and "REPOSITORY" 13.
	defaultOut := "" +
		"REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n" +
		"alpine       latest    c1aabb73d233   2 weeks ago   7.33MB\n" +
		"<none>       <none>    0123456789ab   2 weeks ago   7.33MB\n"
	tests := []struct {
		name, format string
		rows         []any
		want         string
	}{
		{"empty format is the default table", "", images, defaultOut},
		{"table is the default table", "table", images, defaultOut},
		{"table with escaped tabs", `table {{.ID}}\t{{.Size}}`, images, "" +
			"IMAGE ID       SIZE\n" +
			"c1aabb73d233   7.33MB\n" +
			"0123456789ab   7.33MB\n"},
		{"table with real tabs and spaces around", "table   {{.Tag}}\t{{.Repository}}  ", images, "" +
			"TAG       REPOSITORY\n" +
			"latest    alpine\n" +
			"<none>    <none>\n"},
		{"header falls back to the split field name", `table {{.CreatedAt}}\t{{.Tag}}`, images, "" +
			"CREATED AT   TAG\n" +
			"2024-01-01   latest\n" +
			"2024-02-02   <none>\n"},
		{"one column built of two fields", "table {{.Repository}}:{{.Tag}}", images, "" +
			"REPOSITORY:TAG\n" +
			"alpine:latest\n" +
			"<none>:<none>\n"},
		{"header ignores functions but pad", `table {{upper .Repository}}\t{{truncate .ID 4}}|{{pad .Tag 1 1}}|`, images, "" +
			"REPOSITORY   IMAGE ID| TAG |\n" +
			"ALPINE       c1aa| latest |\n" +
			"<NONE>       0123| <none> |\n"},
		{"header stops at a function it cannot run", `table {{.Tag}}\t{{.Label "a"}}\t{{.Size}}`, images, "" +
			"TAG       \n" + // the cell before the failure is still padded
			"latest    label-a   7.33MB\n" +
			"<none>    label-a   7.33MB\n"},
		{"no rows still prints the header", "", nil,
			"REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"},
		{"no rows and no header for the field", "table {{.CreatedAt}}", nil,
			"<no value>\n"},
		{"custom template, no header", "{{.Repository}}:{{.Tag}}", images,
			"alpine:latest\n<none>:<none>\n"},
		{"custom template expands escapes", `{{.Tag}}\n{{.Size}}\t!`, images[:1],
			"latest\n7.33MB\t!\n"},
		{"custom template with no rows", "{{.ID}}", nil, ""},
		{"json on a field does not escape HTML", "{{json .Repository}}", images[1:],
			"\"<none>\"\n"},
		{"json format marshals fields and methods, escaping HTML", "json", images, "" +
			`{"CreatedAt":"2024-01-01","CreatedSince":"2 weeks ago","ID":"c1aabb73d233","Repository":"alpine","Size":"7.33MB","Tag":"latest"}` + "\n" +
			`{"CreatedAt":"2024-02-02","CreatedSince":"2 weeks ago","ID":"0123456789ab","Repository":"\u003cnone\u003e","Size":"7.33MB","Tag":"\u003cnone\u003e"}` + "\n"},
		{"json format is {{json .}}", "{{json .}}", images[:1],
			`{"CreatedAt":"2024-01-01","CreatedSince":"2 weeks ago","ID":"c1aabb73d233","Repository":"alpine","Size":"7.33MB","Tag":"latest"}` + "\n"},
		{"json of a row with MarshalJSON", "json", []any{marshaled{"a"}},
			`{"custom":"<x>"}` + "\n"},
		{"json of map rows", "json", []any{map[string]string{"b": "<1>", "a": "2"}},
			`{"a":"2","b":"<1>"}` + "\n"},
		{"map rows in a table", `table {{.Name}}\t{{.Value}}`, []any{map[string]string{"Name": "a", "Value": "1"}}, "" +
			"NAME      VALUE\n" +
			"a         1\n"},
		{"helpers", `{{join (split .Repository "p") "-"}} {{title "hello world"}} {{lower "AbC"}} {{println "x"}}`, images[:1],
			"al-ine Hello World abc x\n\n"},
		{"truncate counts bytes and keeps short strings", `{{truncate "héllo" 2}}|{{truncate "ab" 5}}|{{pad "" 2 2}}|`, images[:1],
			"h\xc3|ab||\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Table(&buf, tt.format, defaultImages, imageHeaders, tt.rows); err != nil {
				t.Fatalf("Table: %v", err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("Table(%q) =\n%s\nwant\n%s", tt.format, got, tt.want)
			}
		})
	}
}

func TestTableErrors(t *testing.T) {
	tests := []struct {
		format string
		want   string
	}{
		{"{{.ID", `template parsing error: template: :1: unclosed action`},
		{"table {{nope .ID}}", `template parsing error: template: :1: function "nope" not defined`},
		{"{{.Nope}}", `template parsing error: template: :1:2: executing "" at <.Nope>: can't evaluate field Nope in type *format.image`},
		{"table {{.ID}}\t{{.Nope}}", `template parsing error: template: :1:10: executing "" at <.Nope>: can't evaluate field Nope in type *format.image`},
		{"{{join .ID \",\"}}", `template parsing error: template: :1:7: executing "" at <.ID>: wrong type for value; expected []string; got string`},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			err := Table(&buf, tt.format, defaultImages, imageHeaders, images)
			if err == nil {
				t.Fatalf("Table(%q) succeeded, wrote %q", tt.format, buf.String())
			}
			if err.Error() != tt.want {
				t.Errorf("error %q\nwant      %q", err, tt.want)
			}
			if !errors.Is(err, ErrTemplate) {
				t.Errorf("error %v does not wrap ErrTemplate", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %q before failing", buf.String())
			}
		})
	}
}

func TestTableLeavesRowsAlone(t *testing.T) {
	rows := []any{image{Repository: "a"}}
	if err := Table(&bytes.Buffer{}, "json", "", nil, rows); err != nil {
		t.Fatal(err)
	}
	if _, ok := rows[0].(image); !ok {
		t.Errorf("rows[0] became %T", rows[0])
	}
}

// TestTableConcurrent runs under -race: templates are per call, the
// function maps they start from are shared.
func TestTableConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			var buf bytes.Buffer
			if err := Table(&buf, "json", "", nil, []any{image{Tag: fmt.Sprint(i)}}); err != nil {
				t.Error(err)
			}
			if !strings.Contains(buf.String(), fmt.Sprintf(`"Tag":"%d"`, i)) {
				t.Errorf("got %q", buf.String())
			}
		})
	}
	wg.Wait()
}

func TestHeaderName(t *testing.T) {
	for field, want := range map[string]string{
		"ID":           "ID",
		"Size":         "SIZE",
		"CreatedAt":    "CREATED AT",
		"ImageID":      "IMAGE ID",
		"HTTPProxy":    "HTTP PROXY",
		"LocalVolumes": "LOCAL VOLUMES",
		"Size2":        "SIZE2",
		"v":            "V",
	} {
		if got := headerName(field); got != want {
			t.Errorf("headerName(%q) = %q, want %q", field, got, want)
		}
	}
}
