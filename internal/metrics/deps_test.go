package metrics_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The shipped binary links no package that imports testing; this package
// must not bring one in (see the package comment on client_golang).
func TestLinksNoTestingPackage(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if deps := strings.Fields(string(out)); slices.Contains(deps, "testing") {
		t.Error("internal/metrics links package testing")
	}
}
