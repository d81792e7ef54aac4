package cgienv

import (
	"errors"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Interpreter runs the scripts whose names end in Ext as "Program SCRIPT"
// (--interpreter .php=/usr/bin/php-cgi): such a script needs no execute
// bit and no #! line, which is how PHP and Python files are usually
// installed.
type Interpreter struct {
	Ext     string // the name's ending, with its dot: ".php"
	Program string // absolute path of the program
}

// ParseInterpreter reads "EXT=PROGRAM" and checks, once at start, that the
// program can run: absolute, a regular file, executable by us. A missing
// dot is added to EXT.
func ParseInterpreter(spec string) (Interpreter, error) {
	ext, prog, ok := strings.Cut(spec, "=")
	ext = strings.TrimSpace(ext)
	if !ok || ext == "" || ext == "." || prog == "" {
		return Interpreter{}, errors.New("want EXT=PROGRAM, e.g. .php=/usr/bin/php-cgi")
	}
	if strings.ContainsAny(ext, "/\x00") {
		return Interpreter{}, errors.New("EXT must be a file name ending such as .php")
	}
	if !strings.HasPrefix(ext, ".") {
		ext = "." + ext
	}
	if !path.IsAbs(prog) {
		return Interpreter{}, errors.New("PROGRAM " + prog + " is not an absolute path")
	}
	fi, err := os.Stat(prog)
	if err != nil {
		return Interpreter{}, err
	}
	if !fi.Mode().IsRegular() {
		return Interpreter{}, errors.New("PROGRAM " + prog + " is not a regular file")
	}
	if err := unix.Faccessat(unix.AT_FDCWD, prog, unix.X_OK, unix.AT_EACCESS); err != nil {
		return Interpreter{}, errors.New("PROGRAM " + prog + " is not executable: " + err.Error())
	}
	return Interpreter{Ext: ext, Program: path.Clean(prog)}, nil
}

// interpreterFor returns the program that runs the script at p, or "" if
// p runs itself. The longest matching ending wins, so ".tpl.php" can be
// told apart from ".php".
func interpreterFor(p string, list []Interpreter) string {
	if len(list) == 0 {
		return ""
	}
	base := path.Base(p)
	best, prog := 0, ""
	for _, in := range list {
		if len(in.Ext) > best && len(base) > len(in.Ext) && strings.HasSuffix(base, in.Ext) {
			best, prog = len(in.Ext), in.Program
		}
	}
	return prog
}

// runnable checks that the script at p can be run the way it will be: by
// itself, which takes the execute bit, or by its interpreter, which only
// has to read it.
func runnable(p string, opts ResolveOptions) *Error {
	if interpreterFor(p, opts.Interpreters) != "" {
		lookedUp(p)
		if err := unix.Faccessat(unix.AT_FDCWD, p, unix.R_OK, unix.AT_EACCESS); err != nil {
			return forbidden("not readable (its --interpreter must read it): "+p, err)
		}
		return nil
	}
	if err := executable(p); err != nil {
		return forbidden("not executable: "+p+" (chmod +x it, or name an --interpreter for its extension)", err)
	}
	return nil
}
