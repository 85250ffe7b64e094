package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"

	"github.com/heroldhq/herold/internal/config"
)

// version and commit are set at build time, e.g. by `make build` and the
// Dockerfile: -ldflags "-X main.version=v1.2.3 -X main.commit=<sha>". They are
// package variables because the linker can set nothing else. Unset, the
// module version and VCS revision Go records in the build info are used; a
// binary built without either says (devel).
var (
	version string
	commit  string
)

// versionString describes the build: version, commit, and Go version.
func versionString() string {
	info, _ := debug.ReadBuildInfo()
	return describeBuild(version, commit, info)
}

// describeBuild is versionString with its inputs passed in: the stamped
// version and commit win over what the build info holds.
func describeBuild(v, rev string, info *debug.BuildInfo) string {
	modified, goVersion := "", ""
	stamped := rev != "" // then the stamped version says whether the tree was dirty
	if info != nil {
		goVersion = info.GoVersion
		if v == "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				if s.Value == "true" && !stamped {
					modified = "+dirty"
				}
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	s := v
	if rev != "" {
		s += " commit " + rev[:min(12, len(rev))] + modified
	}
	if goVersion != "" {
		s += " " + goVersion
	}
	return s
}

func versionCommand(_ context.Context, inv *invocation, args []string) error {
	fs := flag.NewFlagSet("herold version", flag.ContinueOnError)
	if err := parseFlags(fs, inv, args, "Prints the version, the commit it was built from and the Go version.", ""); err != nil {
		return err
	}
	fmt.Fprintln(inv.stdout, "herold", versionString())
	return nil
}

func configCommand(_ context.Context, inv *invocation, args []string) error {
	fs := flag.NewFlagSet("herold config", flag.ContinueOnError)
	about := "Prints every setting as a Markdown table: environment variable, flag, default and\n" +
		"meaning. The README's configuration table is this output."
	if err := parseFlags(fs, inv, args, about, ""); err != nil {
		return err
	}
	fmt.Fprint(inv.stdout, config.Table(&config.Config{}))
	return nil
}
