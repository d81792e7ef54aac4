package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and commit override what the build information says, for
// builds that have none (a source tarball) or that name a release:
//
//	go build -ldflags "-X github.com/fcgi-wrap/fcgi-wrap/internal/cli.version=1.2.3 -X github.com/fcgi-wrap/fcgi-wrap/internal/cli.commit=abc1234"
var version, commit string

// versionText is what --version prints after "fcgi-wrap ":
// "0.3.1 (commit abc1234, go1.26.2)".
func versionText() string {
	info, _ := debug.ReadBuildInfo()
	return formatVersion(info, version, commit)
}

// formatVersion takes the version the go command recorded (the module's
// for `go install ...@v0.3.1`, a pseudo-version from the VCS tag and
// commit for a build in a checkout) and the VCS revision, unless ver or
// rev override them.
func formatVersion(info *debug.BuildInfo, ver, rev string) string {
	goVersion := runtime.Version()
	modified := false
	if info != nil {
		if ver == "" && info.Main.Version != "(devel)" {
			ver = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
	}
	ver = strings.TrimPrefix(ver, "v")
	if ver == "" {
		ver = "devel"
	}
	switch {
	case rev == "":
		rev = "unknown"
	case len(rev) > 12:
		rev = rev[:7] // a full hash; seven digits name it, as git log --oneline does
	}
	if modified && !strings.Contains(ver, "dirty") {
		rev += "-dirty"
	}
	return fmt.Sprintf("%s (commit %s, %s)", ver, rev, goVersion)
}
