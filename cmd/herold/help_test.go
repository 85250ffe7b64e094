package main

import (
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/config"
)

// Every command answers --help (and -h, and `herold help CMD`) with its full
// help on stdout and exit status 0; a command with one verb shows the verb's.
func TestEveryCommandHelp(t *testing.T) {
	t.Parallel()
	for _, c := range commands() {
		usage := "Usage: herold " + c.name
		if v := soleVerb(c.name); v != "" {
			usage += " " + v
		}
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}, {c.name, "help"}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				t.Parallel()
				out, errOut, err := runOnce(t, nil, args...)
				if err != nil {
					t.Fatalf("exit status %d: %v", exitCode(err), err)
				}
				if !strings.HasPrefix(out, usage+" ") {
					t.Errorf("stdout does not start with %q:\n%s", usage, out)
				}
				// Usage line, blank line, at least one line saying what it does.
				if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) < 3 || lines[2] == "" {
					t.Errorf("help has no description:\n%s", out)
				}
				if errOut != "" {
					t.Errorf("stderr: %s", errOut)
				}
			})
		}
	}
}

// The help of each role lists every setting once, under the heading of its
// configuration section, the sections in the configuration's order.
func TestServeHelpGroupsSettings(t *testing.T) {
	t.Parallel()
	out, _, err := runOnce(t, nil, "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	heading := map[string]int{} // section title → line
	flagLine := map[string][]int{}
	for i, l := range lines {
		if name, ok := strings.CutPrefix(l, "  -"); ok {
			name, _, _ = strings.Cut(name, " ")
			flagLine[name] = append(flagLine[name], i)
		}
	}
	prev := -1
	for _, s := range config.Sections(&config.Config{}) {
		title := sectionTitle(s.Name)
		i := indexLine(lines, title)
		if i < 0 {
			t.Errorf("no heading %q", title)
			continue
		}
		if i < prev {
			t.Errorf("section %s comes before the one above it in the configuration", s.Name)
		}
		prev = i
		heading[s.Name] = i
	}
	sections := config.Sections(&config.Config{})
	for k, s := range sections {
		end := len(lines)
		if k+1 < len(sections) {
			end = heading[sections[k+1].Name]
		}
		for _, st := range s.Settings {
			at := flagLine[st.Flag]
			if len(at) != 1 {
				t.Errorf("--%s listed %d times, want once", st.Flag, len(at))
				continue
			}
			if at[0] < heading[s.Name] || at[0] > end {
				t.Errorf("--%s is not under %q", st.Flag, sectionTitle(s.Name))
			}
		}
	}
	// A value given before --help is not shown as the default.
	out, _, err = runOnce(t, nil, "serve", "--http-addr", "0.0.0.0:1", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, `"0.0.0.0:1"`) || !strings.Contains(out, `(default "127.0.0.1:8080")`) {
		t.Error("--help after --http-addr shows the given value as the default")
	}
}

// A command's own flags come before the settings it shares with serve.
func TestTemplateHelpOwnFlagsFirst(t *testing.T) {
	t.Parallel()
	out, _, err := runOnce(t, nil, "template", "preview", "--help")
	if err != nil {
		t.Fatal(err)
	}
	own, settings, brand := strings.Index(out, "  -type string"), strings.Index(out, "Settings:"), strings.Index(out, "  -brand-name")
	if own < 0 || settings < 0 || brand < 0 || own > settings || settings > brand {
		t.Errorf("want --type, then the Settings heading, then --brand-name:\n%s", out)
	}
}

func indexLine(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}
