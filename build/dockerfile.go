package build

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Dockerfile is a Dockerfile parsed by buildkit's parser and instructions
// packages: comments, continuations, the escape and syntax directives,
// heredocs, exec and shell forms.
type Dockerfile struct {
	// Name is what errors call the file ("Dockerfile", "build/dev.Dockerfile").
	Name string
	// MetaArgs are the ARGs before the first FROM.
	MetaArgs []instructions.ArgCommand
	Stages   []instructions.Stage
	// Escape is the escape character (the escape directive, else \).
	Escape rune
}

// ParseDockerfile parses data. Errors name the file and line:
// "Dockerfile:3: unknown instruction: FOO".
func ParseDockerfile(name string, data []byte) (*Dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, lineError(name, err)
	}
	for _, n := range res.AST.Children {
		if err := checkExecForm(n); err != nil {
			return nil, &Error{File: name, Line: n.StartLine, Err: err, parse: true}
		}
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, lineError(name, err)
	}
	if len(stages) == 0 {
		return nil, &Error{File: name, Err: errors.New("no build stage: a Dockerfile needs a FROM instruction"), parse: true}
	}
	return &Dockerfile{Name: name, MetaArgs: metaArgs, Stages: stages, Escape: res.EscapeToken}, nil
}

// checkExecForm refuses an argument written as an exec form (`["...`)
// that is not a JSON array of strings. Docker would run it as a shell
// command line, which is never what its author meant.
func checkExecForm(n *parser.Node) error {
	switch strings.ToLower(n.Value) {
	case "run", "cmd", "entrypoint":
	default:
		return nil
	}
	if n.Attributes["json"] || n.Next == nil {
		return nil
	}
	rest := strings.TrimSpace(n.Next.Value)
	if !strings.HasPrefix(rest, `["`) || !strings.HasSuffix(rest, "]") {
		return nil
	}
	var args []string
	if err := json.Unmarshal([]byte(rest), &args); err != nil {
		return fmt.Errorf("%s: invalid JSON in the exec form %s: %v", strings.ToUpper(n.Value), rest, err)
	}
	return nil
}

// Error is a failure at one place of a Dockerfile: "FILE:LINE: message".
// A Dockerfile that does not parse is ErrDockerfile.
type Error struct {
	File  string
	Line  int // 0 when the file as a whole is wrong
	Err   error
	parse bool
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Is(target error) bool { return e.parse && target == ErrDockerfile }

// lineError turns a parser error into an Error at its line.
func lineError(name string, err error) error {
	inner := err
	for u := errors.Unwrap(inner); u != nil; u = errors.Unwrap(inner) {
		inner = u
	}
	msg := inner.Error()
	line := 0
	var loc *parser.LocationError
	if errors.As(err, &loc) && len(loc.Locations) > 0 && len(loc.Locations[0]) > 0 {
		line = loc.Locations[0][0].Start.Line
	}
	if rest, ok := strings.CutPrefix(msg, "dockerfile parse error on line "); ok {
		n, m, _ := strings.Cut(rest, ": ")
		fmt.Sscan(n, &line)
		msg = m
	}
	return &Error{File: name, Line: line, Err: errors.New(msg), parse: true}
}

// at places an error at the instruction it is about.
func at(name string, cmd interface{ Location() []parser.Range }, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	line := 0
	if loc := cmd.Location(); len(loc) > 0 {
		line = loc[0].Start.Line
	}
	return &Error{File: name, Line: line, Err: err}
}
