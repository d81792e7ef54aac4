package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"
)

// checkCommand is `nginx -t` for fcgi-wrap: everything serve would refuse
// at start, found without binding a socket or serving a request.
func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "validate the flags and --config file, then exit 0 (ok) or 1 (with what is wrong)",
		ArgsUsage: "[SCRIPT]",
		Flags:     serveFlags(),
		Before: func(c *cli.Context) error {
			if err := loadConfigFile(c); err != nil {
				return runtimeError("check failed: %v", err)
			}
			return nil
		},
		Action: checkAction,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return runtimeError("%v", err)
		},
	}
}

func checkAction(c *cli.Context) error {
	s, err := settingsFrom(c)
	if err == nil {
		err = checkSettings(s)
	}
	if err != nil {
		return runtimeError("check failed: %v", err)
	}
	fmt.Fprintln(c.App.Writer, "fcgi-wrap: configuration ok")
	return nil
}

// checkSettings looks at what settingsFrom cannot: the filesystem and the
// user database as they are now.
func checkSettings(s *settings) error {
	var problems []error
	for _, raw := range s.sockets {
		addr, err := parseSocketURL(raw)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if addr.network != "unix" {
			continue
		}
		dir := filepath.Dir(addr.address)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			problems = append(problems, fmt.Errorf("socket %s: directory %s does not exist", raw, dir))
		} else if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
			problems = append(problems, fmt.Errorf("socket %s: directory %s is not writable", raw, dir))
		}
		if fi, err := os.Lstat(addr.address); err == nil && fi.Mode()&os.ModeSocket == 0 {
			problems = append(problems, fmt.Errorf("socket %s: the path exists and is not a socket", raw))
		}
	}
	if s.socketOwner != "" {
		if _, _, err := lookupOwner(s.socketOwner); err != nil {
			problems = append(problems, fmt.Errorf("--socket-owner: %v", err))
		}
	}
	if s.user != "" {
		if _, _, _, err := lookupCredentials(s.user, s.group); err != nil {
			problems = append(problems, err)
		}
	} else if s.group != "" {
		problems = append(problems, errors.New("--group needs --user"))
	}
	if _, err := parseAllowed(s.allowFrom, os.Getenv("FCGI_WEB_SERVER_ADDRS")); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}
