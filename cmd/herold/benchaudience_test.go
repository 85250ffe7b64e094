package main

import (
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/redistest"
)

// `herold bench-audience` runs the whole story on a small population and
// prints every figure; its numbers are for people, not for this test.
func TestBenchAudiencePrintsEveryFigure(t *testing.T) {
	t.Parallel()
	out, errOut, err := runOnce(t, map[string]string{"HEROLD_REDIS_URL": redistest.URL()},
		"bench-audience", "--recipients", "300", "--with-events", "100", "--runs", "1")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"(1) import without consent events: 200 recipients", "(2) import with two consent events each: 100 recipients, 200 events",
		"(3) segment", "over 300 recipients", "(4) dry run", "300 recipients decided", "peak RSS", "CPU per recipient"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
