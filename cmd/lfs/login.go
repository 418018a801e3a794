package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

type loginOptions struct {
	registry, user, password string
	passwordStdin            bool
	tlsVerify                bool
}

func loginCommand() *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "Log in to a registry (credentials go to docker's config.json)",
		ArgsUsage: "[REGISTRY]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "user name"},
			&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "password (prefer --password-stdin)"},
			&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from stdin"},
			tlsVerifyFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 1); err != nil {
				return err
			}
			return runLogin(c, loginOptions{registry: c.Args().First(), user: c.String("username"), password: c.String("password"),
				passwordStdin: c.Bool("password-stdin"), tlsVerify: c.Bool("tls-verify")})
		},
	}
}

func runLogin(c *cli.Context, o loginOptions) error {
	if o.passwordStdin {
		if o.password != "" {
			return errors.New("--password and --password-stdin are mutually exclusive")
		}
		if o.user == "" {
			return errors.New("must provide --username with --password-stdin")
		}
		data, err := io.ReadAll(io.LimitReader(c.App.Reader, 1<<16))
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		o.password = strings.TrimRight(string(data), "\r\n")
	}
	if f, ok := c.App.Reader.(*os.File); ok && isTerminal(f) && (o.user == "" || o.password == "") && !o.passwordStdin {
		// As docker login does on a terminal: ask, without echoing the password.
		if err := prompt(f, c.App.Writer, &o); err != nil {
			return err
		}
	}
	if o.user == "" || o.password == "" {
		return errors.New("login needs --username and a password (--password or --password-stdin)")
	}
	rc, _, err := registryClient(c.App.Writer, true, o.tlsVerify)
	if err != nil {
		return err
	}
	if err := rc.Login(c.Context, o.registry, o.user, o.password); err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, "Login Succeeded")
	return nil
}

// prompt asks on the terminal in for what o lacks: the user name, then the
// password with echo off.
func prompt(in *os.File, out io.Writer, o *loginOptions) error {
	r := bufio.NewReader(in)
	if o.user == "" {
		fmt.Fprint(out, "Username: ")
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read username: %w", err)
		}
		o.user = strings.TrimSpace(line)
	}
	fmt.Fprint(out, "Password: ")
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("read password: %w", err)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return fmt.Errorf("read password: %w", err)
	}
	line, err := r.ReadString('\n')
	unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprintln(out)
	if err != nil && line == "" {
		return fmt.Errorf("read password: %w", err)
	}
	o.password = strings.TrimRight(line, "\r\n")
	return nil
}
