package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Check looks at what building the settings cannot: the filesystem and the
// user database as they are now. It is `fcgi-wrap check`'s second half,
// and finds without binding a socket what serving would refuse.
func Check(s *Settings) error {
	st := &s.Startup
	var problems []error
	for _, raw := range st.Sockets {
		if err := checkSocket(raw); err != nil {
			problems = append(problems, err)
		}
	}
	if st.SocketOwner != "" {
		if _, _, err := lookupOwner(st.SocketOwner); err != nil {
			problems = append(problems, fmt.Errorf("--socket-owner: %v", err))
		}
	}
	if st.User != "" {
		if _, _, _, err := lookupCredentials(st.User, st.Group); err != nil {
			problems = append(problems, err)
		}
	} else if st.Group != "" {
		problems = append(problems, errors.New("--group needs --user"))
	}
	if _, err := parseAllowed(s.Live.AllowFrom, os.Getenv("FCGI_WEB_SERVER_ADDRS")); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

func checkSocket(raw string) error {
	addr, err := ParseSocketURL(raw)
	if err != nil {
		return err
	}
	if addr.Network != "unix" {
		return nil
	}
	dir := filepath.Dir(addr.Address)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("socket %s: directory %s does not exist", raw, dir)
	} else if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
		return fmt.Errorf("socket %s: directory %s is not writable", raw, dir)
	}
	if fi, err := os.Lstat(addr.Address); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("socket %s: the path exists and is not a socket", raw)
	}
	return nil
}
