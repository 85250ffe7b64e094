package console

import (
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestTexts: every text key a template names exists in German and English
// (a missing key would show as the key itself).
func TestTexts(t *testing.T) {
	t.Parallel()
	used := regexp.MustCompile(`\.T "([a-z0-9_.]+)"`)
	names, _ := fs.Glob(files, "templates/*.html")
	for _, n := range names {
		b, _ := fs.ReadFile(files, n)
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			if texts[m[1]][de] == "" || texts[m[1]][en] == "" {
				t.Errorf("%s uses %q, which lacks German or English", n, m[1])
			}
		}
	}
	for k, m := range texts {
		if m[de] == "" || m[en] == "" {
			t.Errorf("text %q lacks German or English", k)
		}
	}
	// The families the templates build with print.
	for _, k := range []string{"state.scheduled", "state.running", "state.paused", "state.done", "state.canceled",
		"role.viewer", "role.marketing", "role.compliance", "role.admin", "kind.customer", "kind.prospect",
		"action.start", "action.pause", "action.resume", "action.cancel", "action.dryrun"} {
		if _, ok := texts[k]; !ok {
			t.Errorf("no text %q", k)
		}
	}
}

// TestRolesTable: docs/console.md shows the roles table as grants defines it.
func TestRolesTable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/console.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), RolesTable()) {
		t.Errorf("docs/console.md does not hold the roles table; it should read:\n%s", RolesTable())
	}
}
