package config_test

import (
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/config"
)

func loadBrand(env map[string]string) (config.Brand, error) {
	var c struct{ Brand config.Brand }
	err := config.Load(&c, func(k string) string { return env[k] }, nil)
	return c.Brand, err
}

func TestBrandDefaultsAndShortColours(t *testing.T) {
	t.Parallel()
	b, err := loadBrand(map[string]string{"HEROLD_BRAND_COLOR": "#0AF"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "Herold Mobil" || b.Color != "#00aaff" || b.TextColor != "#1a1a1a" || b.Background != "#ffffff" {
		t.Errorf("brand = %+v", b)
	}
}

func TestBrandValidateNamesEachProblem(t *testing.T) {
	t.Parallel()
	_, err := loadBrand(map[string]string{
		"HEROLD_BRAND_NAME": " ", "HEROLD_BRAND_COLOR": "blue;background:url(x)", "HEROLD_BRAND_URL": "javascript:alert(1)",
		"HEROLD_BRAND_LOGO_URL": "data:image/png;base64,AAAA",
	})
	for _, want := range []string{"HEROLD_BRAND_NAME", "HEROLD_BRAND_COLOR", "HEROLD_BRAND_URL", "HEROLD_BRAND_LOGO_URL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if _, err := loadBrand(map[string]string{"HEROLD_BRAND_TEXT_COLOR": "#777", "HEROLD_BRAND_BACKGROUND_COLOR": "#888"}); err == nil || !strings.Contains(err.Error(), "contrast") {
		t.Errorf("low contrast accepted: %v", err)
	}
}

// The pages' former brand settings still work, with a warning that names
// the new one; the new one wins when both are set.
func TestBrandFormerPagesSettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HEROLD_PAGES_BRAND_NAME": "Nordlicht", "HEROLD_PAGES_COLOR_PRIMARY": "#123456",
		"HEROLD_BRAND_COLOR": "#654321"}
	b, err := loadBrand(env)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "Nordlicht" || b.Color != "#654321" {
		t.Errorf("brand = %+v, want the former name read and the new colour winning", b)
	}
	var c struct{ Brand config.Brand }
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	var got []string
	for _, d := range config.DeprecatedEnv(environ, config.Settings(&c)) {
		got = append(got, d.String())
	}
	want := []string{
		"HEROLD_PAGES_BRAND_NAME is deprecated: rename it to HEROLD_BRAND_NAME",
		"HEROLD_PAGES_COLOR_PRIMARY is deprecated and ignored: HEROLD_BRAND_COLOR is set",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("DeprecatedEnv = %q, want %q", got, want)
	}
	if u := config.UnknownEnv(environ, config.Settings(&c)); len(u) != 0 {
		t.Errorf("former names reported as unknown: %v", u)
	}
}
