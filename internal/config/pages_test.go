package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/config"
)

func loadPages(t *testing.T, env map[string]string) (config.Pages, error) {
	t.Helper()
	var p config.Pages
	err := config.Load(&p, func(k string) string { return env[k] }, nil)
	return p, err
}

func TestPagesDefaults(t *testing.T) {
	t.Parallel()
	p, err := loadPages(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.DOITTL != 48*time.Hour || p.Unconfirmed != 48*time.Hour || p.DefaultLocale != "de" || p.RatePerIP < 1 || p.RatePerAddress < 1 {
		t.Errorf("defaults = %+v", p)
	}
	if len(p.Lists) != 1 || p.Lists[0].Key != "news" || p.Lists[0].Consent["de"] == "" || p.Lists[0].Consent["en"] == "" {
		t.Errorf("default lists = %+v", p.Lists)
	}
}

func TestPagesValidateNamesEachProblem(t *testing.T) {
	t.Parallel()
	_, err := loadPages(t, map[string]string{
		"HEROLD_PAGES_PRIVACY_URL":           "javascript:alert(1)",
		"HEROLD_PAGES_DEFAULT_LOCALE":        "fr",
		"HEROLD_PAGES_DOI_TTL":               "72h",
		"HEROLD_PAGES_UNCONFIRMED_RETENTION": "24h",
		"HEROLD_PAGES_RATE_PER_IP":           "0",
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"HEROLD_PAGES_PRIVACY_URL", "HEROLD_PAGES_DEFAULT_LOCALE",
		"HEROLD_PAGES_UNCONFIRMED_RETENTION", "HEROLD_PAGES_RATE_PER_IP"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

func TestPagesListsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "lists.yaml")
	os.WriteFile(good, []byte("lists:\n  - key: press\n    title: {de: Presse, en: Press}\n    consent: {de: \"Ja, {brand}\", en: \"Yes, {brand}\"}\n"), 0o600)
	p, err := loadPages(t, map[string]string{"HEROLD_PAGES_LISTS_FILE": good})
	if err != nil || len(p.Lists) != 1 || p.Lists[0].Key != "press" || p.Lists[0].Title["en"] != "Press" {
		t.Fatalf("lists = %+v, %v", p.Lists, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("lists:\n  - key: Press!\n    title: {de: Presse}\n  - key: x\n    title: {de: a, en: b}\n    consent: {de: a, en: b}\n    colour: red\n"), 0o600)
	_, err = loadPages(t, map[string]string{"HEROLD_PAGES_LISTS_FILE": bad})
	if err == nil || !strings.Contains(err.Error(), "HEROLD_PAGES_LISTS_FILE") {
		t.Fatalf("bad file: %v", err)
	}
	if _, err := config.ParseNewsletterLists([]byte("lists:\n  - key: Press!\n    title: {de: Presse}\n")); err == nil ||
		!strings.Contains(err.Error(), "list Press!: key") || !strings.Contains(err.Error(), `title: missing "en"`) || !strings.Contains(err.Error(), `consent: missing "de"`) {
		t.Errorf("problems not all named: %v", err)
	}
	if _, err := loadPages(t, map[string]string{"HEROLD_PAGES_LISTS_FILE": filepath.Join(dir, "missing.yaml")}); err == nil {
		t.Error("missing file accepted")
	}
}

func TestContrastRatio(t *testing.T) {
	t.Parallel()
	if r := config.ContrastRatio("#000", "#fff"); r < 20.9 || r > 21.1 {
		t.Errorf("black on white = %.2f, want 21", r)
	}
	if r := config.ContrastRatio("#0b5394", "#ffffff"); r < 4.5 {
		t.Errorf("default primary on white = %.2f, below 4.5", r)
	}
}

func TestPagesWarnings(t *testing.T) {
	t.Parallel()
	p, err := loadPages(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := p.Warnings()
	if len(w) != 2 || !strings.Contains(w[0], "HEROLD_PAGES_IMPRINT_URL") || !strings.Contains(w[1], "HEROLD_PAGES_PRIVACY_URL") {
		t.Errorf("warnings without imprint and privacy links = %q", w)
	}
	p, err = loadPages(t, map[string]string{"HEROLD_PAGES_IMPRINT_URL": "https://example.com/impressum", "HEROLD_PAGES_PRIVACY_URL": "/datenschutz"})
	if err != nil {
		t.Fatal(err)
	}
	if w := p.Warnings(); len(w) != 0 {
		t.Errorf("warnings with both links = %q", w)
	}
	if _, err := loadPages(t, map[string]string{"HEROLD_PAGES_TIME_ZONE": "Mars/Olympus"}); err == nil || !strings.Contains(err.Error(), "HEROLD_PAGES_TIME_ZONE") {
		t.Errorf("bad time zone: %v", err)
	}
}
