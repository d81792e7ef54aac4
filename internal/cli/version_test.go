package cli

import (
	"runtime/debug"
	"testing"
)

// TestFormatVersion pins the --version that said "devel" for every build:
// the version and commit come from the build information, and the
// ldflags variables still win.
func TestFormatVersion(t *testing.T) {
	vcs := func(version string, modified bool) *debug.BuildInfo {
		m := "false"
		if modified {
			m = "true"
		}
		return &debug.BuildInfo{GoVersion: "go1.26.2", Main: debug.Module{Version: version},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc1234def5678901234567890abcdef12345678"}, {Key: "vcs.modified", Value: m}}}
	}
	tests := []struct {
		name     string
		info     *debug.BuildInfo
		ver, rev string
		want     string
	}{
		{"go install @v0.3.1", &debug.BuildInfo{GoVersion: "go1.26.2", Main: debug.Module{Version: "v0.3.1"}}, "", "",
			"0.3.1 (commit unknown, go1.26.2)"},
		{"checkout at a tag", vcs("v0.3.1", false), "", "", "0.3.1 (commit abc1234, go1.26.2)"},
		{"modified checkout", vcs("v0.3.2-0.20260101000000-abc1234def56+dirty", true), "", "",
			"0.3.2-0.20260101000000-abc1234def56+dirty (commit abc1234, go1.26.2)"},
		{"no VCS stamp", vcs("(devel)", true), "", "", "devel (commit abc1234-dirty, go1.26.2)"},
		{"ldflags override", vcs("v0.3.1", false), "1.0.0", "fedcba9", "1.0.0 (commit fedcba9, go1.26.2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatVersion(tt.info, tt.ver, tt.rev); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
