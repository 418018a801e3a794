package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/template"
)

// Object writes objs to w the way docker inspect does.
//
//   - "" writes all of objs as one JSON array indented by four spaces, and
//     "[]" when there are none.
//   - "json" writes the same array on one line.
//   - Anything else is a template, run once per object, each output
//     followed by a newline; `\t` and `\n` are not expanded, as docker
//     inspect does not expand them. When the template fails on the Go
//     value it is run again, with missingkey=error, on the object's JSON
//     decoded into maps, so that JSON key names work as field names as
//     they do in docker. Objects that fail are skipped; the others are
//     still written (a lone newline if none succeed), and the errors come
//     back joined, one per line, each wrapping ErrTemplate.
//
// A template that does not parse writes nothing.
func Object(w io.Writer, format string, objs []any) error {
	switch format {
	case "":
		return writeArray(w, objs, func(v any) ([]byte, error) {
			return json.MarshalIndent(v, "", "    ")
		})
	case "json":
		return writeArray(w, objs, json.Marshal)
	}
	tmpl, err := Parse(format)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	var errs []error
	for _, obj := range objs {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, obj); err != nil {
			buf.Reset()
			if err := executeRaw(&buf, tmpl, obj); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		out.Write(buf.Bytes())
		out.WriteByte('\n')
	}
	if out.Len() == 0 {
		out.WriteByte('\n')
	}
	if _, err := out.WriteTo(w); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func writeArray(w io.Writer, objs []any, marshal func(any) ([]byte, error)) error {
	if len(objs) == 0 {
		_, err := io.WriteString(w, "[]\n")
		return err
	}
	b, err := marshal(objs)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// executeRaw runs tmpl over obj's JSON form, as docker inspect falls
// back to the raw API response when the typed one fails. Numbers stay
// json.Number so that large integers print as they are.
func executeRaw(w io.Writer, tmpl *template.Template, obj any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("unable to read inspect data: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("unable to read inspect data: %w", err)
	}
	// docker sets the option on its one template, so every later object
	// runs with it too; a clone keeps each object independent of the last.
	strict, err := tmpl.Clone()
	if err != nil {
		return templateError(err)
	}
	if err := strict.Option("missingkey=error").Execute(w, raw); err != nil {
		return templateError(err)
	}
	return nil
}
