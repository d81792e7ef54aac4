package gateway

import (
	"path"
	"strings"
)

// command is the program a request runs, its arguments and environment:
// the script itself, or the script's --interpreter with the script as its
// one argument. SCRIPT_FILENAME already names the script either way.
//
// A PHP interpreter also gets REDIRECT_STATUS=200 unless the web server
// sent one (nginx's fastcgi_params does): php-cgi's cgi.force_redirect,
// on by default, refuses to run a script unless that variable says a web
// server sent the request, and other servers do not set it.
func (r *run) command(env []string) (program string, args []string, _ []string) {
	interp := r.script.Interpreter
	if interp == "" {
		return r.script.Path, nil, env
	}
	if strings.HasPrefix(path.Base(interp), "php") && !hasVar(env, "REDIRECT_STATUS") {
		env = append(env, "REDIRECT_STATUS=200")
	}
	return interp, []string{r.script.Path}, env
}

// hasVar reports whether env has an entry for name.
func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if len(kv) > len(name) && kv[len(name)] == '=' && strings.HasPrefix(kv, name) {
			return true
		}
	}
	return false
}
