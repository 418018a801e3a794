// Package format renders lists and objects the way docker's --format does.
//
// Users of lfs know docker, so a --format string means here what it means
// to the docker CLI:
//
//   - Table renders lists (images, history, ps). "" and "table" pick the
//     command's default table; "table TEMPLATE" prints a header line, made
//     by running TEMPLATE over the column headers, then one line per row,
//     aligned on tabs; "json" prints {{json .}} per row; anything else is a
//     template run once per row, each followed by a newline.
//   - Object renders objects (inspect): "" is an indented JSON array of all
//     of them, "json" the same array on one line, anything else a template
//     run once per object.
//
// In a template, the literal two-character sequences `\t` and `\n` stand
// for a tab and a newline, and the functions are docker's: json, join,
// lower, upper, split, title, truncate and pad, besides text/template's
// own (println, printf, len, index, ...).
//
// Every template error, at parse or execution time, wraps ErrTemplate, so
// its message starts "template parsing error: " as docker's does. Output
// is buffered: a list whose rows fail prints nothing.
package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"
)

// ErrTemplate is wrapped by every error that comes from parsing or
// executing a template. docker says "parsing" for both, and so do we.
var ErrTemplate = errors.New("template parsing error")

func templateError(err error) error {
	return fmt.Errorf("%w: %w", ErrTemplate, err)
}

// basicFuncs are the functions docker gives every --format template.
var basicFuncs = template.FuncMap{
	"json":  jsonString,
	"split": strings.Split,
	"join":  strings.Join,
	// docker uses strings.Title; its word rules are what users see.
	"title":    strings.Title, //nolint:staticcheck // docker's behaviour
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      pad,
	"truncate": truncate,
}

// headerFuncs replace basicFuncs when a table's header line is rendered:
// the header shows column names, not transformed ones. pad is kept, so
// that a padded column keeps its header aligned with it.
var headerFuncs = template.FuncMap{
	"json":     func(v string) string { return v },
	"split":    func(v, _ string) string { return v },
	"join":     func(v, _ string) string { return v },
	"title":    func(v string) string { return v },
	"lower":    func(v string) string { return v },
	"upper":    func(v string) string { return v },
	"truncate": func(v string, _ int) string { return v },
}

// Parse compiles tmpl with docker's template functions. The template is
// unnamed, as docker's is, so errors read "template: :1: ...". A parse
// error wraps ErrTemplate.
func Parse(tmpl string) (*template.Template, error) {
	t, err := template.New("").Funcs(basicFuncs).Parse(tmpl)
	if err != nil {
		return nil, templateError(err)
	}
	return t, nil
}

// jsonString is docker's json function: HTML characters stay as they
// are, and an unencodable value gives an empty string, not an error.
func jsonString(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSpace(buf.String())
}

// pad surrounds a non-empty s with prefix and suffix spaces; an empty
// s stays empty so that a missing value does not widen its column.
func pad(s string, prefix, suffix int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
}

// truncate cuts s to n bytes, as docker does (bytes, not runes).
func truncate(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

// expandEscapes turns the two-character sequences `\t` and `\n`, which
// shells pass through untouched, into a tab and a newline.
var expandEscapes = strings.NewReplacer(`\t`, "\t", `\n`, "\n")
