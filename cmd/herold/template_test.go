package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTemplatePreviewEveryType renders every type of the default catalog on
// every channel in both locales through the command.
func TestTemplatePreviewEveryType(t *testing.T) {
	t.Parallel()
	var s templateSettings
	r, cat, err := loadTemplateTool(&invocation{getenv: getenvFrom(nil)}, &s, nil, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range cat.Types() {
		for _, ch := range spec.Channels {
			for _, l := range []string{"de", "en"} {
				t.Run(string(spec.Key)+"/"+string(ch)+"/"+l, func(t *testing.T) {
					t.Parallel()
					var out strings.Builder
					args := previewArgs{typ: string(spec.Key), channel: string(ch), locale: l}
					if ch == "email" {
						args.html = filepath.Join(t.TempDir(), "out.html")
					}
					if err := preview(t.Context(), &out, r, cat, args); err != nil {
						t.Fatalf("preview: %v", err)
					}
					got := out.String()
					for _, want := range []string{"Type:     " + string(spec.Key), "Channel:  " + string(ch), "Locale:   " + l} {
						if !strings.Contains(got, want) {
							t.Errorf("output lacks %q:\n%s", want, got)
						}
					}
					if spec.OptOutNotice != strings.Contains(got, "/unsubscribe/") {
						t.Errorf("opt-out link present = %v, want %v", !spec.OptOutNotice, spec.OptOutNotice)
					}
					switch ch {
					case "email":
						if !strings.Contains(got, "Subject:  ") {
							t.Errorf("no subject:\n%s", got)
						}
						b, err := os.ReadFile(args.html)
						if err != nil || !strings.HasPrefix(string(b), "<!DOCTYPE html>") {
							t.Errorf("HTML file: %v, %.40q", err, b)
						}
					case "sms":
						if !strings.Contains(got, "SMS:      GSM-7") {
							t.Errorf("no SMS encoding line:\n%s", got)
						}
					case "whatsapp", "rcs":
						for _, want := range []string{"On the phone (twilio/card):", "  Media:    https://www.example.com/", "replies STOP", "ContentSid: none"} {
							if !strings.Contains(got, want) {
								t.Errorf("output lacks %q:\n%s", want, got)
							}
						}
					}
				})
			}
		}
	}
}

func TestTemplateCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "invoice.json")
	if err := os.WriteFile(data, []byte(`{"profile":{"salutation":"Herr","last_name":"Ng"},"data":{"invoice":{"number":"R-7","period":"Mai 2026","amount":12.5,"due_date":"2026-06-01","url":"https://s.example.com/r/7"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	over := filepath.Join(dir, "tmpl", "en", "invoice", "sms.txt.tmpl")
	if err := os.MkdirAll(filepath.Dir(over), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(over, []byte("Invoice {{.Data.invoice.number}} from {{.Brand.Name}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	offer := filepath.Join(dir, "offer.json")
	if err := os.WriteFile(offer, []byte(`{"profile":{"first_name":"Jörg"},"data":{"offer":{"title":"5 GB","price":5,"valid_until":"2026-12-31","url":"https://www.example.com/o","image":"bilder/o.gif"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	sids := map[string]string{"HEROLD_WHATSAPP_CONTENT_SIDS": "messenger_offer=HX0123456789abcdef0123456789abcdef"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // in stdout, or in the error when code > 0
		code int
	}{
		{"whatsapp card", sids, []string{"template", "preview", "--type", "messenger_offer", "--channel", "whatsapp"}, "ContentSid: HX0123456789abcdef0123456789abcdef", 0},
		{"rcs only or with fallback", nil, []string{"template", "preview", "--type", "messenger_offer", "--channel", "rcs"}, "Route:    RCS with SMS fallback", 0},
		{"media the provider refuses", nil, []string{"template", "preview", "--type", "messenger_offer", "--channel", "whatsapp", "--data", offer},
			`media refused: the media URL "https://www.example.com/bilder/o.gif" does not end in a file type whatsapp accepts`, 1},
		{"own data", nil, []string{"template", "preview", "--type", "invoice", "--data", data}, "Guten Tag Herr Ng,", 0},
		{"brand flag and override dir", map[string]string{"HEROLD_TEMPLATES_DIR": filepath.Join(dir, "tmpl")},
			[]string{"template", "preview", "--type", "invoice", "--channel", "sms", "--locale", "en", "--brand-name", "Nordlicht"}, "Invoice RE-2026-11-004711 from Nordlicht", 0},
		{"missing key", nil, []string{"template", "preview", "--type", "promo_offer", "--data", data}, "offer.title", 1},
		{"unknown type", nil, []string{"template", "preview", "--type", "fax"}, `unknown message type "fax"`, 2},
		{"no type", nil, []string{"template", "preview"}, "--type is required", 2},
		{"bad locale", nil, []string{"template", "preview", "--type", "invoice", "--locale", "fr"}, `no templates for "fr"`, 2},
		{"html for sms", nil, []string{"template", "preview", "--type", "invoice", "--channel", "sms", "--html", filepath.Join(dir, "x.html")}, "no HTML part", 2},
		{"bad data file", nil, []string{"template", "preview", "--type", "invoice", "--data", filepath.Join(dir, "nope.json")}, "--data", 1},
		{"not preview", nil, []string{"template", "render"}, "template preview", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := runOnce(t, tt.env, tt.args...)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if !strings.Contains(out, tt.want) {
					t.Errorf("stdout lacks %q:\n%s", tt.want, out)
				}
				return
			}
			if err == nil || exitCode(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v (exit %d), want exit %d naming %q", err, exitCode(err), tt.code, tt.want)
			}
		})
	}
}

func TestCatalogCheckChecksTemplates(t *testing.T) {
	t.Parallel()
	out, _, err := runOnce(t, nil, "catalog", "check")
	if err != nil || !strings.Contains(out, "templates are complete for locales de, en") {
		t.Fatalf("catalog check: %v\n%s", err, out)
	}
	_, errOut, err := runOnce(t, map[string]string{"HEROLD_LOCALES": "de,en,fr"}, "catalog", "check")
	if exitCode(err) != 1 || !strings.Contains(errOut, "type invoice: channel email: locale fr: no template") {
		t.Errorf("catalog check with a locale without templates: %v\n%s", err, errOut)
	}
}
