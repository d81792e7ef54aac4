package cgienv

import (
	"slices"
	"strconv"
	"strings"
)

// DefaultPath is the script's PATH when the wrapper has none of its own.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin"

// EnvPolicy is what the operator allows into a script's environment beyond
// what the web server sends. The zero value adds nothing of the wrapper's
// environment except PATH.
type EnvPolicy struct {
	// Fixed holds "K=V" entries added to every script's environment
	// (--env); they override everything else. Nil means none.
	Fixed []string
	// PassEnv holds names or path.Match globs of the wrapper's own
	// variables to copy in (--pass-env). Nil means none.
	PassEnv []string
	// DropParams holds names or path.Match globs of params never passed to
	// scripts (--drop-param, e.g. HTTP_AUTHORIZATION). Nil means none.
	DropParams []string
	// Wrapper is the wrapper's own environment (os.Environ()), read only
	// for PATH and PassEnv. Nil means PATH is DefaultPath.
	Wrapper []string
}

// Environ builds the script's environment (RFC 3875 section 4), sorted by
// name with one entry per name. Each layer overrides the one before:
//
//  1. every param from the server whose name is a valid environment name
//     ([A-Za-z_][A-Za-z0-9_]*) and whose value has no NUL, except HTTP_PROXY
//     in any letter case (httpoxy: a client's "Proxy:" header must not
//     become the script's proxy) and DropParams;
//  2. PATH, if the server sent none: the wrapper's PATH, else DefaultPath;
//  3. the wrapper's variables matching PassEnv;
//  4. what CGI and resolution define: GATEWAY_INTERFACE=CGI/1.1,
//     SERVER_SOFTWARE (only if missing), FCGI_ROLE=role (if role != ""),
//     SCRIPT_FILENAME=script.Path, SCRIPT_NAME=script.ScriptName (if set),
//     and, if script.PathInfoSet, PATH_INFO with PATH_TRANSLATED =
//     DOCUMENT_ROOT+PATH_INFO (removed if there is no DOCUMENT_ROOT or
//     PATH_INFO is empty, as the server's value would describe the old
//     PATH_INFO); a value with a NUL is left out and listed in dropped;
//  5. Fixed.
//
// Nothing else of the wrapper's environment gets in. dropped lists each
// param left out and why ("HTTP_PROXY: httpoxy", "X-Y: invalid name"), sorted,
// for a debug log line; names are quoted when not printable ASCII.
func Environ(params map[string]string, script Script, role string, policy EnvPolicy) (env []string, dropped []string) {
	m, dropped := fromParams(params, policy)
	fromWrapper(m, policy)
	dropped = setCGI(m, script, role, dropped)
	for _, kv := range policy.Fixed {
		k, v, ok := splitEnv(kv)
		if !ok {
			dropped = append(dropped, "--env "+strconv.Quote(kv)+": not NAME=value")
			continue
		}
		m[k] = v
	}

	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	env = make([]string, len(keys))
	for i, k := range keys {
		env[i] = k + "=" + m[k]
	}
	slices.Sort(dropped)
	return env, dropped
}

// fromParams keeps the params a script may see, and says why of the rest.
func fromParams(params map[string]string, policy EnvPolicy) (m map[string]string, dropped []string) {
	m = make(map[string]string, len(params)+8)
	for k, v := range params {
		switch {
		case !validEnvName(k):
			dropped = append(dropped, logName(k)+": invalid name")
		case strings.IndexByte(v, 0) >= 0:
			dropped = append(dropped, k+": NUL in value")
		case strings.EqualFold(k, "HTTP_PROXY"):
			dropped = append(dropped, k+": httpoxy")
		case matchName(policy.DropParams, k):
			dropped = append(dropped, k+": --drop-param")
		default:
			m[k] = v
		}
	}
	return m, dropped
}

// fromWrapper adds PATH, if the web server sent none, and what --pass-env
// lets through from fcgi-wrap's own environment.
func fromWrapper(m map[string]string, policy EnvPolicy) {
	if _, ok := m["PATH"]; !ok {
		m["PATH"] = DefaultPath
		if p, ok := lookupEnv(policy.Wrapper, "PATH"); ok && p != "" {
			m["PATH"] = p
		}
	}
	if len(policy.PassEnv) == 0 {
		return
	}
	seen := make(map[string]bool)
	for _, kv := range policy.Wrapper {
		k, v, ok := splitEnv(kv)
		// The first of duplicate entries wins, as in getenv(3).
		if !ok || seen[k] || !matchName(policy.PassEnv, k) {
			continue
		}
		seen[k] = true
		m[k] = v
	}
}

// setCGI sets what CGI/1.1 defines and fcgi-wrap knows better than the
// web server: the gateway, the role, and the resolved script and path.
func setCGI(m map[string]string, script Script, role string, dropped []string) []string {
	// Resolve never yields a NUL, but an environment entry with one would
	// be cut short by execve, so nothing here may carry one either.
	set := func(k, v string) {
		if strings.IndexByte(v, 0) >= 0 {
			dropped = append(dropped, k+": NUL in value")
			delete(m, k)
			return
		}
		m[k] = v
	}
	m["GATEWAY_INTERFACE"] = "CGI/1.1"
	if _, ok := m["SERVER_SOFTWARE"]; !ok {
		m["SERVER_SOFTWARE"] = "fcgi-wrap"
	}
	if role != "" {
		set("FCGI_ROLE", role)
	}
	if script.Path != "" {
		set("SCRIPT_FILENAME", script.Path)
	}
	if script.ScriptName != "" {
		set("SCRIPT_NAME", script.ScriptName)
	}
	if script.PathInfoSet {
		set("PATH_INFO", script.PathInfo)
		if root := m["DOCUMENT_ROOT"]; root != "" && m["PATH_INFO"] != "" {
			m["PATH_TRANSLATED"] = strings.TrimSuffix(root, "/") + script.PathInfo
		} else {
			delete(m, "PATH_TRANSLATED")
		}
	}
	return dropped
}

// validEnvName reports whether name is a portable environment variable name
// that a shell can also read.
func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// splitEnv splits a "K=V" entry, refusing what could not be put in an
// environment intact.
func splitEnv(kv string) (k, v string, ok bool) {
	k, v, ok = strings.Cut(kv, "=")
	if !ok || !validEnvName(k) || strings.IndexByte(v, 0) >= 0 {
		return "", "", false
	}
	return k, v, true
}

func lookupEnv(env []string, name string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

func matchName(patterns []string, name string) bool {
	for _, p := range patterns {
		if matchPath(p, name) {
			return true
		}
	}
	return false
}

// logName makes a name safe for a log line without hiding what it was.
func logName(name string) string {
	if name == "" {
		return `""`
	}
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] >= 0x7f || name[i] == ':' {
			return strconv.Quote(name)
		}
	}
	return name
}
