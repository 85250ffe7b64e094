package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The shipped binary links no test code: no package of ours named *test
// (apptest, redistest, twiliotest …), no net/http/httptest, and nothing that
// imports "testing". Test helpers in the binary would be dead weight at best
// and a fake provider at worst.
func TestBinaryLinksNoTestCode(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \",\"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		n++
		own := strings.HasPrefix(pkg, "github.com/heroldhq/herold")
		if (own && strings.HasSuffix(pkg, "test")) || pkg == "testing" || pkg == "net/http/httptest" {
			t.Errorf("the binary links %s", pkg)
		}
		for _, imp := range strings.Split(imports, ",") {
			if imp == "testing" {
				t.Errorf("%s, linked into the binary, imports testing", pkg)
			}
		}
	}
	if n < 50 {
		t.Fatalf("go list named %d packages: it did not list the binary's dependencies", n)
	}
}
