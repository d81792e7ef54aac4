package main

import (
	"context"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed cgi
var cgiSources embed.FS

// workspace is the run's temporary directory: the fcgi-wrap binary built
// from this checkout, the CGI programs compiled for this machine, and the
// daemons' sockets and logs. Nothing built is ever committed.
type workspace struct {
	dir      string
	www      string            // the scripts' directory
	fcgiWrap string            // fcgi-wrap binary under test
	fcgiwrap string            // Debian's fcgiwrap
	scripts  map[string]string // "tiny", "shell", ... -> path
	// fwEnv is added to fcgi-wrap's environment (-fw-env), e.g. GOGC or
	// GOMEMLIMIT, to see what a runtime setting does without a rebuild.
	fwEnv []string
	nsock int
}

// newWorkspace builds everything the scenarios run. fcgiWrapBin, if set,
// is used instead of building the checkout at repo.
func newWorkspace(ctx context.Context, repo, rev, fcgiWrapBin, fcgiwrapBin string) (*workspace, error) {
	dir, err := os.MkdirTemp("", "fcgi-wrap-bench-")
	if err != nil {
		return nil, err
	}
	ws := &workspace{dir: dir, www: filepath.Join(dir, "www"), fcgiwrap: fcgiwrapBin, scripts: map[string]string{}}
	if err := ws.setup(ctx, repo, rev, fcgiWrapBin); err != nil {
		ws.remove()
		return nil, err
	}
	return ws, nil
}

func (ws *workspace) setup(ctx context.Context, repo, rev, fcgiWrapBin string) error {
	// Scripts live in a directory only root may write, as fcgi-wrap's
	// strict permission checks expect of a real cgi-bin.
	if err := os.Mkdir(ws.www, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(ws.fcgiwrap); err != nil {
		return fmt.Errorf("fcgiwrap to compare against: %w (apt-get install fcgiwrap)", err)
	}
	if fcgiWrapBin != "" {
		ws.fcgiWrap = fcgiWrapBin
	} else if err := ws.build(ctx, repo, rev); err != nil {
		return err
	}
	entries, err := cgiSources.ReadDir("cgi")
	if err != nil {
		return err
	}
	for _, e := range entries {
		src, err := cgiSources.ReadFile("cgi/" + e.Name())
		if err != nil {
			return err
		}
		name, isC := strings.CutSuffix(e.Name(), ".c")
		if !isC {
			name = strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
			path := filepath.Join(ws.www, e.Name())
			if err := os.WriteFile(path, src, 0o755); err != nil {
				return err
			}
			ws.scripts[name] = path
			continue
		}
		srcPath := filepath.Join(ws.dir, e.Name())
		if err := os.WriteFile(srcPath, src, 0o644); err != nil {
			return err
		}
		bin := filepath.Join(ws.www, name+".cgi")
		if err := compileC(ctx, srcPath, bin); err != nil {
			return err
		}
		ws.scripts[name] = bin
	}
	return nil
}

// build compiles fcgi-wrap into the workspace: from the working tree, or,
// with rev, from that commit alone. The checkout is shared with people
// editing it, and a half-done edit in the working tree should not end up
// in published figures.
func (ws *workspace) build(ctx context.Context, repo, rev string) error {
	ws.fcgiWrap = filepath.Join(ws.dir, "fcgi-wrap")
	src := repo
	if rev != "" {
		src = filepath.Join(ws.dir, "src")
		if err := os.Mkdir(src, 0o755); err != nil {
			return err
		}
		archive := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", repo, rev, src)
		if out, err := archive.CombinedOutput(); err != nil {
			return fmt.Errorf("extracting %s of %s: %v\n%s", rev, repo, err, out)
		}
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", ws.fcgiWrap, ".")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building fcgi-wrap in %s: %v\n%s", src, err, out)
	}
	return nil
}

// compileC builds a static binary when the C library allows it: a static
// program starts without the dynamic loader, which is how the spawn rates
// in PERF-NOTES were measured and keeps the wrapper's cost in view.
func compileC(ctx context.Context, src, bin string) error {
	out, err := exec.CommandContext(ctx, "gcc", "-O2", "-static", "-o", bin, src).CombinedOutput()
	if err == nil {
		return nil
	}
	out2, err2 := exec.CommandContext(ctx, "gcc", "-O2", "-o", bin, src).CombinedOutput()
	if err2 != nil {
		return fmt.Errorf("compiling %s: %v\n%s\n%s", src, err2, out, out2)
	}
	return nil
}

// sockPath names a fresh unix socket in the workspace.
func (ws *workspace) sockPath(name string) string {
	ws.nsock++
	return filepath.Join(ws.dir, fmt.Sprintf("%s-%d.sock", name, ws.nsock))
}

func (ws *workspace) remove() { os.RemoveAll(ws.dir) }
