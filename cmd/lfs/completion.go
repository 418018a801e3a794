package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

const bashCompletion = `# bash completion for lfs; add to ~/.bashrc: source <(lfs completion bash)
_lfs_complete() {
  local cur opts
  cur="${COMP_WORDS[COMP_CWORD]}"
  opts=$("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:$COMP_CWORD-1}" --generate-bash-completion 2>/dev/null)
  if [[ "$cur" == -* ]]; then
    opts=$("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:$COMP_CWORD-1}" "$cur" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  [[ ${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))
  return 0
}
complete -o filenames -F _lfs_complete lfs
`

const zshCompletion = `#compdef lfs
# zsh completion for lfs; add to ~/.zshrc: source <(lfs completion zsh)
_lfs() {
  local -a opts
  opts=("${(@f)$(${words[1]} ${words[@]:1:$#words[@]-2} --generate-bash-completion 2>/dev/null)}")
  if [[ -n "${opts[*]}" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _lfs lfs
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "Print a shell completion script (bash or zsh)",
		ArgsUsage: "bash|zsh",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			switch c.Args().First() {
			case "bash":
				fmt.Fprint(c.App.Writer, bashCompletion)
			case "zsh":
				fmt.Fprint(c.App.Writer, zshCompletion)
			default:
				return fmt.Errorf("unsupported shell %q: bash or zsh", c.Args().First())
			}
			return nil
		},
	}
}
