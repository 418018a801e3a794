package format

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode"
)

// Column names the header docker prints over a field, for example
// {Field: "ID", Header: "IMAGE ID"} or {Field: "CreatedSince", Header: "CREATED"}.
type Column struct {
	Field  string
	Header string
}

// Columns describes the header line of one kind of table.
type Columns []Column

// Headers returns the field-to-header map that Table takes.
func (c Columns) Headers() map[string]string {
	m := make(map[string]string, len(c))
	for _, col := range c {
		m[col.Field] = col.Header
	}
	return m
}

// Table writes rows to w as the format string asks; see the package doc.
//
// Each row is a struct, a pointer to one, or any other value a template
// can read; a struct is copied behind a pointer so that methods on either
// receiver are fields to the template. defaultFormat is what "" and
// "table" mean, such as
// "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".
//
// A table's header line is the template run over a map from field names
// to headers: headers[name] where given, otherwise the name split at its
// case changes and upper-cased ("ImageID" gives "IMAGE ID"). The names
// are learnt from the rows, so with no rows a name missing from headers
// shows as "<no value>": give a header for every field a user may name.
//
// {{json .}} on a row, and so the "json" format, gives an object of the
// row's exported fields and of its exported methods that take nothing and
// return one value, keyed by Go name as templates see them, unless the
// row is a json.Marshaler. Fields tagged `json:"-"` are left out.
//
// Nothing is written if a row fails; the error wraps ErrTemplate.
func Table(w io.Writer, format, defaultFormat string, headers map[string]string, rows []any) error {
	if format == "" || format == "table" {
		format = defaultFormat
	}
	isTable := strings.HasPrefix(format, "table")
	text := format
	switch {
	case isTable:
		text = text[len("table"):]
	case format == "json":
		text = "{{json .}}"
	}
	text = expandEscapes.Replace(strings.Trim(text, " "))

	tmpl, err := Parse(text)
	if err != nil {
		return err
	}
	rows = addressable(rows)
	var body bytes.Buffer
	for _, row := range rows {
		tmpl.Funcs(template.FuncMap{"json": rowJSON(row)})
		if err := tmpl.Execute(&body, row); err != nil {
			return templateError(err)
		}
		body.WriteByte('\n')
	}
	if !isTable {
		_, err := body.WriteTo(w)
		return err
	}

	// docker renders the header after the rows and ignores its errors: a
	// header cell that cannot be rendered (.Label "x" on a map) ends the
	// header line early rather than failing the listing.
	var header bytes.Buffer
	_ = tmpl.Funcs(headerFuncs).Execute(&header, headerMap(headers, rows))
	header.WriteByte('\n')

	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	if _, err := header.WriteTo(tw); err != nil {
		return err
	}
	if _, err := body.WriteTo(tw); err != nil {
		return err
	}
	return tw.Flush()
}

// addressable puts each struct value behind a pointer, as docker's
// contexts are, so that pointer-receiver methods can be called from the
// template. rows itself is left alone.
func addressable(rows []any) []any {
	out := make([]any, len(rows))
	for i, row := range rows {
		out[i] = row
		v := reflect.ValueOf(row)
		if v.Kind() != reflect.Struct {
			continue
		}
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		out[i] = p.Interface()
	}
	return out
}

// rowJSON returns the json function for one row: on the row itself it
// marshals docker's way, everything else goes through jsonString.
func rowJSON(row any) func(any) string {
	return func(v any) string {
		if !isRow(v, row) {
			return jsonString(v)
		}
		m := fieldMap(reflect.ValueOf(row))
		// docker marshals a row with json.Marshal, which escapes HTML:
		// "<none>" comes out as "\u003cnone\u003e".
		b, err := json.Marshal(m)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

// isRow reports whether v is the row pointer, which then has no
// MarshalJSON of its own.
func isRow(v, row any) bool {
	rv := reflect.ValueOf(row)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return false
	}
	if _, ok := row.(json.Marshaler); ok {
		return false
	}
	vv := reflect.ValueOf(v)
	return vv.Kind() == reflect.Pointer && vv.Type() == rv.Type() && vv.Pointer() == rv.Pointer()
}

// fieldMap collects what a template can read from p, a pointer to a
// struct: exported fields, promoted ones included, and the exported
// methods that take no argument and return one value.
func fieldMap(p reflect.Value) map[string]any {
	m := make(map[string]any)
	s := p.Elem()
	for _, f := range reflect.VisibleFields(s.Type()) {
		if !f.IsExported() || f.Anonymous || f.Tag.Get("json") == "-" {
			continue
		}
		fv, err := s.FieldByIndexErr(f.Index)
		if err != nil {
			continue // promoted through a nil embedded pointer
		}
		m[f.Name] = fv.Interface()
	}
	t := p.Type()
	for i := range t.NumMethod() {
		meth := t.Method(i)
		mt := meth.Type // receiver first
		if mt.NumIn() != 1 || mt.NumOut() != 1 {
			continue
		}
		m[meth.Name] = p.Method(i).Call(nil)[0].Interface()
	}
	return m
}

// headerMap is what a table's header template runs over: every field
// name a row offers, mapped to its header.
func headerMap(headers map[string]string, rows []any) map[string]string {
	m := make(map[string]string)
	seen := make(map[reflect.Type]bool)
	for _, row := range rows {
		v := reflect.ValueOf(row)
		if !v.IsValid() || seen[v.Type()] {
			continue
		}
		seen[v.Type()] = true
		for _, name := range fieldNames(v) {
			m[name] = headerName(name)
		}
	}
	for name, h := range headers {
		m[name] = h
	}
	return m
}

// fieldNames lists the names a template can look up on v.
func fieldNames(v reflect.Value) []string {
	var names []string
	t := v.Type()
	for i := range t.NumMethod() {
		names = append(names, t.Method(i).Name)
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		for _, f := range reflect.VisibleFields(t) {
			if f.IsExported() {
				names = append(names, f.Name)
			}
		}
	case reflect.Map:
		if t.Key().Kind() == reflect.String {
			for _, k := range v.MapKeys() {
				names = append(names, k.String())
			}
		}
	}
	return names
}

// headerName makes a header from a field name that has none: words split
// where the case changes, upper-cased. "CreatedAt" gives "CREATED AT",
// "ImageID" "IMAGE ID" and "HTTPProxy" "HTTP PROXY".
func headerName(field string) string {
	rs := []rune(field)
	var b strings.Builder
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte(' ')
			}
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}
