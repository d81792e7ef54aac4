package cli

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files (the man page)")

// TestManPage fails when man/fcgi-wrap.8 no longer matches the CLI, so the
// page cannot drift from --help. `go test -run TestManPage ./internal/cli -update`
// rewrites it.
func TestManPage(t *testing.T) {
	got := ManPage(NewApp())
	const path = "../../man/fcgi-wrap.8"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test -run TestManPage ./internal/cli -update` to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s is stale: run `go test -run TestManPage ./internal/cli -update` and commit the result", path)
	}
}

// TestManPageReadsLikeOne pins what the urfave-generated page got wrong:
// the sections a reader looks for, every environment variable, no
// `--flag=""`, and no Markdown emphasis leaking out of HTTP_NAME.
func TestManPageReadsLikeOne(t *testing.T) {
	page := ManPage(NewApp())
	for _, section := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS",
		"ENVIRONMENT", "SIGNALS", "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO"} {
		if !strings.Contains(page, "\n.SH "+section+"\n") {
			t.Errorf("no %s section", section)
		}
	}
	env := page[strings.Index(page, ".SH ENVIRONMENT"):]
	for _, f := range append(serveFlags(), requestCommand().Flags...) {
		if e, ok := f.(interface{ GetEnvVars() []string }); ok {
			for _, v := range e.GetEnvVars() {
				if !strings.Contains(env, roff(v)) {
					t.Errorf("ENVIRONMENT does not list %s", v)
				}
			}
		}
		if !strings.Contains(page, `\fB\-\-`+roff(f.Names()[0])+`\fR`) {
			t.Errorf("no option --%s", f.Names()[0])
		}
	}
	if strings.Contains(page, `=""`) {
		t.Errorf(`the page shows ="" defaults`)
	}
	if !strings.Contains(page, `HTTP_NAME; Content\-Type and Content\-Length become CONTENT_*`) {
		t.Errorf("the -H usage is not shown as written (emphasis markup leaked in?)")
	}
	if !strings.Contains(page, `\fB\-\-socket\-mode\fR \fIVALUE\fR`+"\n"+`permissions of unix sockets fcgi\-wrap creates, in octal (default: 0660)`) {
		t.Errorf("--socket-mode is not shown with its default")
	}
}

// TestManPageFormats runs the page through groff, as man does, and fails
// on any warning (a bad escape, an unknown macro).
func TestManPageFormats(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff not installed (Debian: groff-base)")
	}
	cmd := exec.Command(groff, "-man", "-ww", "-z", "-Tutf8")
	cmd.Stdin = strings.NewReader(ManPage(NewApp()))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("groff: %v\n%s", err, stderr.String())
	}
}
