package build

import "github.com/moby/buildkit/frontend/dockerfile/shell"

type lexer struct{}

var shellLex lexer

// expand uses buildkit's shell lexer, Docker's rules for ${VAR:-default}
// and friends.
func (lexer) expand(s string, env []string) string {
	lex := shell.NewLex('\\')
	res, err := lex.ProcessWordWithMatches(s, shell.EnvsFromSlice(env))
	if err != nil {
		return s
	}
	return res.Result
}
