package cgienv

import (
	"errors"
	"io/fs"
	"net/url"
	"path"
	"strconv"
	"strings"
	"syscall"
)

// ResolveOptions is the operator's policy for which programs may run.
// The zero value runs whatever executable regular file the server names.
type ResolveOptions struct {
	// FixedScript, if set, is the absolute path of the one script every
	// request runs; params cannot point elsewhere. "" means dynamic mode.
	FixedScript string
	// Roots, if non-empty, confines dynamic mode: the script, after every
	// symlink is resolved, must lie inside one of these directories (each
	// also symlink-resolved). Empty means no confinement.
	Roots []string
	// Allow, if non-empty, lists the only scripts that may run: the
	// script's symlink-resolved path must equal one of these or match it
	// as a path.Match glob. A pattern whose directory part has no glob
	// characters is also tried with that directory symlink-resolved.
	// Empty means any script.
	Allow []string
	// Exts, if non-empty (e.g. ".cgi", ".pl"), lists the endings the
	// script's name must have. Empty means any name.
	Exts []string
	// StrictPerms refuses a script that is setuid or setgid, writable by
	// group or others, or that lies in a directory writable by others
	// without the sticky bit. False means no such checks.
	StrictPerms bool
	// Interpreters run scripts by the ending of their names
	// (--interpreter); such a script must be readable rather than
	// executable, and every other rule applies to it. Nil means every
	// script is run as a program itself.
	Interpreters []Interpreter
}

// Script is the program a request resolved to, and what the CGI
// environment must say about it.
type Script struct {
	Path        string // absolute, cleaned path to run, as the server named it (not symlink-resolved)
	Dir         string // Path's directory: the script's working directory
	ScriptName  string // SCRIPT_NAME to give the script; "" leaves the server's
	PathInfo    string // PATH_INFO to give the script when PathInfoSet
	PathInfoSet bool   // resolution split PATH_INFO off the path and it overrides the server's
	NPH         bool   // the base name starts with "nph-": the script writes a full HTTP status line
	Interpreter string // the program that runs Path as its argument (ResolveOptions.Interpreters); "": Path runs itself
}

// Resolve decides which program a request runs, from the request's params
// and the operator's policy. A refusal is an *Error carrying 404 or 403.
//
// In dynamic mode the script comes from SCRIPT_FILENAME when the server sent
// it (nginx, Apache's "proxy:fcgi://host:port" prefix stripped), else from
// DOCUMENT_ROOT+SCRIPT_NAME (fcgiwrap's way, which nginx configs written
// for fcgiwrap rely on). Either path is walked back to the deepest existing
// file; what lies past it becomes PATH_INFO.
func Resolve(params map[string]string, opts ResolveOptions) (Script, error) {
	s, err := resolve(params, opts)
	if err == nil {
		s.Interpreter = interpreterFor(s.Path, opts.Interpreters)
	}
	return s, err
}

func resolve(params map[string]string, opts ResolveOptions) (Script, error) {
	if opts.FixedScript != "" {
		return resolveFixed(opts)
	}
	if fn := params["SCRIPT_FILENAME"]; fn != "" {
		return resolveFilename(params, fn, opts)
	}
	root, name := params["DOCUMENT_ROOT"], params["SCRIPT_NAME"]
	switch {
	case root != "" && name != "":
		return resolveDocRoot(root, name, opts)
	case root == "" && name == "":
		return Script{}, notFound("no SCRIPT_FILENAME, DOCUMENT_ROOT or SCRIPT_NAME param", nil)
	case root == "":
		return Script{}, notFound("no SCRIPT_FILENAME or DOCUMENT_ROOT param", nil)
	default:
		return Script{}, notFound("no SCRIPT_FILENAME or SCRIPT_NAME param", nil)
	}
}

func resolveFixed(opts ResolveOptions) (Script, error) {
	p := opts.FixedScript
	if err := checkSyntax("fixed script", p); err != nil {
		return Script{}, err
	}
	p = path.Clean(p)
	if err := tooLong("fixed script", len(p)); err != nil {
		return Script{}, err
	}
	f, err := statFile(p)
	if err != nil {
		return Script{}, statError(p, err)
	}
	if f.mode.IsDir() {
		return Script{}, forbidden("is a directory: "+p, nil)
	}
	if !f.mode.IsRegular() {
		return Script{}, forbidden("not a regular file: "+p, nil)
	}
	s := newScript(p)
	return s, check(s.Path, f, opts, false)
}

func resolveFilename(params map[string]string, fn string, opts ResolveOptions) (Script, error) {
	p := fn
	if len(p) >= len("proxy:") && strings.EqualFold(p[:len("proxy:")], "proxy:") {
		var err *Error
		if p, err = stripProxy(p); err != nil {
			return Script{}, err
		}
	}
	if err := tooLong("SCRIPT_FILENAME", len(p)); err != nil {
		return Script{}, err
	}
	if err := checkSyntax("SCRIPT_FILENAME", p); err != nil {
		return Script{}, err
	}
	if hasDotDot(p) {
		return Script{}, forbidden(`SCRIPT_FILENAME has a ".." component: `+p, nil)
	}
	i, f, err := walkBack(p, 0)
	if err != nil {
		return Script{}, err
	}
	s := newScript(path.Clean(p[:i]))
	// The server split nothing off, so what lies past the script is the
	// PATH_INFO it would have sent; nginx's default fastcgi_params also
	// left it on SCRIPT_NAME, which is then shortened the same way.
	if rest := p[i:]; rest != "" && params["PATH_INFO"] == "" {
		s.PathInfo, s.PathInfoSet = rest, true
		if sn := params["SCRIPT_NAME"]; len(sn) > len(rest) && strings.HasSuffix(sn, rest) {
			s.ScriptName = sn[:len(sn)-len(rest)]
		}
	}
	return s, check(s.Path, f, opts, true)
}

func resolveDocRoot(root, name string, opts ResolveOptions) (Script, error) {
	if err := tooLong("DOCUMENT_ROOT+SCRIPT_NAME", len(root)+len(name)); err != nil {
		return Script{}, err
	}
	if err := checkSyntax("DOCUMENT_ROOT", root); err != nil {
		return Script{}, err
	}
	if strings.IndexByte(name, 0) >= 0 {
		return Script{}, forbidden("NUL byte in SCRIPT_NAME", nil)
	}
	root = path.Clean(root)
	if root == "/" {
		root = ""
	}
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	cleaned := false
	if hasDotDot(name) {
		if climbs(name) {
			return Script{}, forbidden("SCRIPT_NAME climbs above DOCUMENT_ROOT: "+name, nil)
		}
		c := path.Clean(name)
		if strings.HasSuffix(name, "/") && c != "/" {
			c += "/"
		}
		name, cleaned = c, true
	}
	full := root + name
	if err := tooLong("DOCUMENT_ROOT+SCRIPT_NAME", len(full)); err != nil {
		return Script{}, err
	}
	i, f, err := walkBack(full, len(root))
	if err != nil {
		return Script{}, err
	}
	s := newScript(path.Clean(full[:i]))
	if rest := full[i:]; rest != "" {
		s.ScriptName = full[len(root):i]
		s.PathInfo, s.PathInfoSet = rest, true
	} else if cleaned {
		s.ScriptName = name
	}
	return s, check(s.Path, f, opts, true)
}

func newScript(p string) Script {
	return Script{
		Path: p,
		Dir:  path.Dir(p),
		NPH:  strings.HasPrefix(path.Base(p), "nph-"),
	}
}

// tooLong refuses a path of n bytes that is longer than any the kernel
// takes. The reason gives the length, not the path: it may be megabytes.
func tooLong(what string, n int) *Error {
	if n <= pathMax {
		return nil
	}
	return notFound(what+" is "+strconv.Itoa(n)+" bytes, over PATH_MAX ("+strconv.Itoa(pathMax)+")", nil)
}

// checkSyntax refuses what no stat call should ever see.
func checkSyntax(what, p string) *Error {
	if strings.IndexByte(p, 0) >= 0 {
		return forbidden("NUL byte in "+what, nil)
	}
	if !strings.HasPrefix(p, "/") {
		return forbidden(what+" is not an absolute path: "+p, nil)
	}
	return nil
}

// stripProxy turns Apache mod_proxy_fcgi's SCRIPT_FILENAME
// ("proxy:fcgi://host:port/path/x.cgi/info?query", percent-encoded) into
// the plain path, as php-fpm does.
func stripProxy(s string) (string, *Error) {
	rest := s[len("proxy:"):]
	i := strings.Index(rest, "://")
	if i < 0 {
		return "", forbidden("SCRIPT_FILENAME has a proxy: prefix without ://", nil)
	}
	rest = rest[i+len("://"):]
	j := strings.IndexByte(rest, '/')
	if j < 0 {
		return "", forbidden("SCRIPT_FILENAME has no path after its proxy: prefix", nil)
	}
	p := rest[j:]
	if q := strings.IndexByte(p, '?'); q >= 0 {
		p = p[:q]
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		return "", forbidden("SCRIPT_FILENAME has bad percent-encoding", err)
	}
	return dec, nil
}

func hasDotDot(p string) bool {
	for c := range strings.SplitSeq(p, "/") {
		if c == ".." {
			return true
		}
	}
	return false
}

// climbs reports whether the slash-separated path p, taken lexically,
// ever goes above its starting directory.
func climbs(p string) bool {
	depth := 0
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) ||
		errors.Is(err, syscall.ENAMETOOLONG)
}

func statError(p string, err error) *Error {
	switch {
	case isMissing(err):
		return notFound("no such file: "+p, err)
	case errors.Is(err, syscall.EACCES):
		return forbidden("permission denied looking up "+p, err)
	case errors.Is(err, syscall.ELOOP):
		return forbidden("too many levels of symbolic links in "+p, err)
	default:
		return forbidden("cannot stat "+p, err)
	}
}
