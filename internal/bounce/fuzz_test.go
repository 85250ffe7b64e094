package bounce_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/heroldhq/herold/internal/bounce"
)

// FuzzParse: no input panics, and a message that carries RFC 3834's
// Auto-Submitted and no delivery-status part is never taken for a bounce.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _ = bounce.Parse(raw) // must not panic
		if bytes.Contains(bytes.ToLower(raw), []byte("delivery-status")) {
			return
		}
		q, err := bounce.Parse(append([]byte("Auto-Submitted: auto-replied\r\n"), raw...))
		if err == nil && (q.Kind == bounce.Hard || q.Kind == bounce.Soft) {
			t.Fatalf("an auto-reply without a DSN was classified %s", q.Kind)
		}
	})
}
