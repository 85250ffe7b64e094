package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"

	"github.com/heroldhq/herold/internal/config"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3". It is
// a package variable because the linker can set nothing else; without it the
// module version from the build info is used.
var version string

// versionString describes the build: version, commit, and Go version.
func versionString() string {
	v, commit, modified, goVersion := version, "", "", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = "+dirty"
				}
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	s := v
	if commit != "" {
		s += " commit " + commit[:min(12, len(commit))] + modified
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
