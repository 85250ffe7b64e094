package templates

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
)

// TestEmbedded guards the go:embed patterns: layouts, partials and samples
// must all be in the binary (files starting with _ or . would be dropped).
func TestEmbedded(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"layout/email.html.tmpl", "layout/email.txt.tmpl", "de/partials.tmpl", "en/partials.tmpl",
		"de/invoice/email.subject.tmpl", "en/messenger_offer/whatsapp.vars.tmpl", "samples/invoice.json"} {
		if _, err := fs.Stat(FS(), p); err != nil {
			t.Errorf("%s not embedded: %v", p, err)
		}
	}
	err := fs.WalkDir(FS(), "samples", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(FS(), p)
		if err != nil {
			return err
		}
		var s struct {
			Profile map[string]any            `json:"profile"`
			Data    map[string]map[string]any `json:"data"`
		}
		if err := json.Unmarshal(b, &s); err != nil || len(s.Data) == 0 || !strings.HasSuffix(p, ".json") {
			t.Errorf("%s: not sample data: %v", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
