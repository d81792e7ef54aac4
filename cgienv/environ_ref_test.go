package cgienv

import (
	"slices"
	"strconv"
	"strings"
)

// environByMap is Environ as it was built on a map, before issue 16: the
// reference FuzzEnviron holds Environ to.
func environByMap(params map[string]string, script Script, role string, policy EnvPolicy) (env []string, dropped []string) {
	m, dropped := refFromParams(params, policy)
	refFromWrapper(m, policy)
	dropped = refSetCGI(m, script, role, dropped)
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
func refFromParams(params map[string]string, policy EnvPolicy) (m map[string]string, dropped []string) {
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
func refFromWrapper(m map[string]string, policy EnvPolicy) {
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
func refSetCGI(m map[string]string, script Script, role string, dropped []string) []string {
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
