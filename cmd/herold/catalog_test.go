package main

import (
	"bytes"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/notice"
	"github.com/heroldhq/herold/internal/policy"
)

// TestCatalogNotice: `herold catalog notice` and `herold catalog record`
// print the documents of the default catalog (the notice package's golden
// files keep their text), name every message type, and refuse bad flags
// and catalogs without notice texts.
func TestCatalogNotice(t *testing.T) {
	t.Parallel()
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args  []string
		write func(*bytes.Buffer) error
	}{
		{[]string{"catalog", "notice", "--locale", "de"}, func(b *bytes.Buffer) error { return notice.Write(b, cat, notice.Options{Lang: "de"}) }},
		{[]string{"catalog", "notice", "--locale", "en", "--format", "html"}, func(b *bytes.Buffer) error {
			return notice.Write(b, cat, notice.Options{Lang: "en", Format: notice.HTML})
		}},
		{[]string{"catalog", "record", "--locale", "de"}, func(b *bytes.Buffer) error { return notice.WriteRecord(b, cat, notice.Options{Lang: "de"}) }},
	} {
		out, errOut, err := runOnce(t, nil, c.args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, errOut)
		}
		var want bytes.Buffer
		if err := c.write(&want); err != nil {
			t.Fatal(err)
		}
		if out != want.String() {
			t.Errorf("%v printed something else than the notice package renders:\n%s", c.args, out)
		}
		for _, ty := range cat.Types() {
			title := ty.Notice.Title.DE
			if strings.Contains(strings.Join(c.args, " "), "en") {
				title = ty.Notice.Title.EN
			}
			if !strings.Contains(out, title) && !strings.Contains(out, html.EscapeString(title)) {
				t.Errorf("%v: type %s (%q) does not appear", c.args, ty.Key, title)
			}
		}
	}

	bare := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(bare, []byte(validCatalogWithoutNotice), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"catalog", "notice"}, 2, ""},
		{[]string{"catalog", "notice", "--locale", "fr"}, 2, ""},
		{[]string{"catalog", "record", "--locale", "de", "--format", "pdf"}, 2, ""},
		{[]string{"catalog", "notice", "--locale", "de", bare}, 1, "type invoice: notice: missing"},
		{[]string{"catalog", "frobnicate"}, 2, ""},
	} {
		_, errOut, err := runOnce(t, nil, c.args...)
		if code := exitCode(err); code != c.code || !strings.Contains(errOut+errString(err), c.stderr) {
			t.Errorf("%v: exit %d (%v), stderr %q; want exit %d naming %q", c.args, code, err, errOut, c.code, c.stderr)
		}
	}
	// catalog check still accepts such a catalog, but says the notice cannot be rendered.
	_, errOut, err := runOnce(t, map[string]string{"HEROLD_LOCALES": "de"}, "catalog", "check", bare)
	if !strings.Contains(errOut, "notice: missing") {
		t.Errorf("catalog check of a catalog without notice texts: %v, stderr %q; want a warning", err, errOut)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

const validCatalogWithoutNotice = `version: "1"
types:
  - key: invoice
    purpose: invoices
    class: transactional
    channels: [email]
    basis:
      email:
        - rule: contract
    data_categories: [contact, invoice]
    retention: 10 years
`
