package notice_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/notice"
	"github.com/heroldhq/herold/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func defaultCatalog(t *testing.T) *policy.Catalog {
	t.Helper()
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// TestGolden keeps the notice and the record of the default catalog, in
// both languages and both formats, in testdata (go test -update rewrites).
func TestGolden(t *testing.T) {
	t.Parallel()
	cat := defaultCatalog(t)
	for _, doc := range []struct {
		name  string
		write func(io.Writer, *policy.Catalog, notice.Options) error
	}{{"notice", notice.Write}, {"record", notice.WriteRecord}} {
		for _, lang := range []string{"de", "en"} {
			for _, f := range []notice.Format{notice.Markdown, notice.HTML} {
				name := doc.name + "." + lang + "." + string(f)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					var b bytes.Buffer
					if err := doc.write(&b, cat, notice.Options{Lang: lang, Format: f}); err != nil {
						t.Fatal(err)
					}
					path := filepath.Join("testdata", name+".golden")
					if *update {
						if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
							t.Fatal(err)
						}
					}
					want, err := os.ReadFile(path)
					if err != nil {
						t.Fatalf("%v (run go test -update)", err)
					}
					if diff := cmp.Diff(string(want), b.String()); diff != "" {
						t.Errorf("%s (-golden +got):\n%s", name, diff)
					}
					if f == notice.HTML {
						wellFormed(t, b.Bytes())
					}
				})
			}
		}
	}
}

// wellFormed checks that the HTML fragment nests correctly (it uses only
// elements that need closing tags, so an XML parser can check it).
func wellFormed(t *testing.T, b []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("HTML is not well formed: %v", err)
		}
	}
}

// TestNoticeCoversTheSeed: the German notice has every communication
// section of the privacy notice the rules come from, and for every message
// type of the catalog its title with purpose, legal basis, data and storage
// period.
func TestNoticeCoversTheSeed(t *testing.T) {
	t.Parallel()
	cat := defaultCatalog(t)
	var b bytes.Buffer
	if err := notice.Write(&b, cat, notice.Options{Lang: "de", Format: notice.HTML}); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, section := range []string{
		"Kommunikation zu Ihren Kundenanliegen",
		"Vertragsinformationen und Rechnungen",
		"Kundeninformationen",
		"Werbliche Kundeninformationen und Newsletter",
		"Kundenzufriedenheits- und Meinungsumfragen",
		"Kontakt über WhatsApp (Meta) und RCS (Google)",
	} {
		if !strings.Contains(html, "<h3>"+section+"</h3>") {
			t.Errorf("no section %q", section)
		}
	}
	for _, ty := range cat.Types() {
		start := strings.Index(html, `<article id="t-`+string(ty.Key)+`">`)
		if start < 0 {
			t.Errorf("type %s does not appear", ty.Key)
			continue
		}
		art := html[start:]
		art = art[:strings.Index(art, "</article>")]
		for _, want := range []string{"<h4>" + template.HTMLEscapeString(ty.Notice.Title.DE) + "</h4>", "<dt>Zweck</dt>", "<dt>Rechtsgrundlage</dt>", "Art. 6 Abs. 1 lit.",
			"<dt>Gespeicherte und genutzte Daten</dt>", "<dt>Speicherzeit</dt>", "<dt>Widerspruch und Widerruf</dt>"} {
			if !strings.Contains(art, want) {
				t.Errorf("type %s: %q missing in\n%s", ty.Key, want, art)
			}
		}
	}
	for _, want := range []string{"§ 7 Abs. 3 UWG", "Double-Opt-In", "nach 2 Jahren", "3 Monate nach dem Ende Ihres Vertrags sperren wir", "Art. 21 Abs. 2 DSGVO", "Art. 7 Abs. 3 DSGVO"} {
		if !strings.Contains(html, want) {
			t.Errorf("notice does not say %q", want)
		}
	}
}

// TestNoticeFollowsTheCatalog: what the notice says of periods and bases
// comes from the rules, so changing the catalog changes the notice.
func TestNoticeFollowsTheCatalog(t *testing.T) {
	t.Parallel()
	src := string(policy.DefaultCatalog())
	src = strings.Replace(src, "blocking_period: 3 months", "blocking_period: 6 months", 1)
	src = strings.Replace(src, "    retention: 2 years #", "    retention: 18 months #", 1)
	cat, err := policy.ParseCatalog([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := notice.Write(&b, cat, notice.Options{Lang: "de"}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{"6 Monate nach dem Ende Ihres Vertrags sperren wir", "löschen oder anonymisieren wir nach 18 Monaten"} {
		if !strings.Contains(got, want) {
			t.Errorf("notice does not say %q", want)
		}
	}
	if strings.Contains(got, "3 Monate nach dem Ende Ihres Vertrags sperren") {
		t.Error("notice still names the old blocking period")
	}
}

func TestNoticeRefusesGapsAndBadOptions(t *testing.T) {
	t.Parallel()
	bare, err := policy.ParseCatalog([]byte(`version: "1"
types:
  - key: invoice
    purpose: invoices
    class: transactional
    channels: [email]
    basis:
      email:
        - rule: contract
    data_categories: [contact]
    retention: 10 years
`))
	if err != nil {
		t.Fatal(err)
	}
	err = notice.Write(io.Discard, bare, notice.Options{Lang: "de"})
	if err == nil || !strings.Contains(err.Error(), "type invoice: notice: missing") || !strings.Contains(err.Error(), "catalog: notice: missing") {
		t.Errorf("catalog without notice texts: %v", err)
	}
	cat := defaultCatalog(t)
	if err := notice.Write(io.Discard, cat, notice.Options{Lang: "fr", Format: "pdf"}); err == nil ||
		!strings.Contains(err.Error(), `locale "fr"`) || !strings.Contains(err.Error(), `format "pdf"`) {
		t.Errorf("bad options: %v", err)
	}
}
