package spawner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStartErrors is not parallel: it writes executables, and a fork in a
// parallel test could inherit a write descriptor to one and make its exec
// fail with ETXTBSY.
func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name       string
		cfg        Config
		wantErrno  syscall.Errno
		wantInterp string
		wantDir    string
		wantMsg    string
	}{
		{
			name:      "missing program",
			cfg:       Config{Path: filepath.Join(dir, "nope.cgi")},
			wantErrno: syscall.ENOENT,
			wantMsg:   "no such file or directory (ENOENT: the program, its #! interpreter or its ELF loader is missing)",
		},
		{
			name:      "missing program in missing directory",
			cfg:       Config{Path: filepath.Join(dir, "nodir", "nope.cgi")},
			wantErrno: syscall.ENOENT,
			wantMsg:   "nope.cgi: no such file or directory",
		},
		{
			name:      "not executable",
			cfg:       Config{Path: write("plain.cgi", "#!/bin/sh\necho hi\n", 0o644)},
			wantErrno: syscall.EACCES,
			wantMsg:   "permission denied (EACCES: not executable",
		},
		{
			name:      "directory",
			cfg:       Config{Path: dir},
			wantErrno: syscall.EACCES,
		},
		{
			name:      "no shebang, not ELF",
			cfg:       Config{Path: write("text.cgi", "echo hi\n", 0o755)},
			wantErrno: syscall.ENOEXEC,
			wantMsg:   "exec format error (ENOEXEC: no #! line",
		},
		{
			name:       "missing interpreter",
			cfg:        Config{Path: write("perl.cgi", "#! /nonexistent/perl -w\nprint 1;\n", 0o755)},
			wantErrno:  syscall.ENOENT,
			wantInterp: "/nonexistent/perl",
			wantMsg:    "perl.cgi: #! interpreter /nonexistent/perl: no such file or directory (ENOENT)",
		},
		{
			// Saved with DOS line endings: the kernel looks for "/bin/sh\r".
			name:       "CRLF shebang",
			cfg:        Config{Path: write("dos.cgi", "#!/bin/sh\r\necho hi\r\n", 0o755)},
			wantErrno:  syscall.ENOENT,
			wantInterp: "/bin/sh\r",
			wantMsg:    `dos.cgi: #! interpreter "/bin/sh\r": no such file or directory (ENOENT: the #! line ends in a carriage return (DOS line endings)`,
		},
		{
			name:      "missing working directory",
			cfg:       Config{Path: self, Dir: filepath.Join(dir, "gone")},
			wantErrno: syscall.ENOENT,
			wantDir:   filepath.Join(dir, "gone"),
			wantMsg:   "working directory " + filepath.Join(dir, "gone") + ": no such file or directory (ENOENT)",
		},
		{
			name:      "working directory is a file",
			cfg:       Config{Path: self, Dir: self},
			wantErrno: syscall.ENOTDIR,
			wantDir:   self,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(context.Background(), tt.cfg)
			if err == nil {
				p.Close()
				t.Fatalf("got a process, want %v", tt.wantErrno)
			}
			if !errors.Is(err, tt.wantErrno) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantErrno)
			}
			var se *StartError
			if !errors.As(err, &se) {
				t.Fatalf("got %T, want *StartError", err)
			}
			if se.Path != tt.cfg.Path {
				t.Errorf("got Path %q, want %q", se.Path, tt.cfg.Path)
			}
			if se.Interp != tt.wantInterp {
				t.Errorf("got Interp %q, want %q", se.Interp, tt.wantInterp)
			}
			if se.Dir != tt.wantDir {
				t.Errorf("got Dir %q, want %q", se.Dir, tt.wantDir)
			}
			if !strings.HasPrefix(err.Error(), "spawner: start "+tt.cfg.Path+": ") {
				t.Errorf("got %q, want it to start with the package and path", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got %q, want it to say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestStartRejects(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantMsg string
	}{
		{"relative path", Config{Path: "bin/true"}, "not absolute"},
		{"NUL in environment", Config{Path: "/bin/true", Env: []string{"A=\x00"}}, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(context.Background(), tt.cfg)
			if err == nil {
				p.Close()
				t.Fatal("got a process, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got %q, want it to say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestShebang(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"#!/bin/sh\n", "/bin/sh"},
		{"#! /usr/bin/perl -w\n", "/usr/bin/perl"},
		{"#!\t/usr/bin/env python3\n", "/usr/bin/env"},
		{"#!/bin/sh", "/bin/sh"},
		{"#!/bin/sh\r\n", "/bin/sh\r"}, // as the kernel sees it: the classic DOS-line-ending failure
		{"#!\n/bin/sh\n", ""},
		{"#!", ""},
		{"echo hi\n", ""},
		{"\x7fELF\x02\x01", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := shebang([]byte(tt.in)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzShebang(f *testing.F) {
	for _, s := range []string{"#!/bin/sh\n", "#! /usr/bin/perl -w\n", "#!\x00", "#!\t\t", "\x7fELF"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := shebang(b)
		if strings.ContainsAny(got, " \t\n\x00") {
			t.Fatalf("got interpreter %q with a separator in it", got)
		}
		if got != "" && !strings.Contains(string(b), got) {
			t.Fatalf("got interpreter %q not in the input", got)
		}
	})
}
