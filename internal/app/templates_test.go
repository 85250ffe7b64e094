package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/apptest"
)

// Start-up refuses WhatsApp on Twilio without the approved templates its
// types need (a warning only with free-form messages or with the outbox),
// and a template whose variables the type cannot fill, naming the type.
func TestStartupTemplateChecks(t *testing.T) {
	t.Parallel()
	twilio := map[string]string{"HEROLD_TWILIO_ACCOUNT_SID": apptest.AccountSID, "HEROLD_TWILIO_AUTH_TOKEN": apptest.AuthToken,
		"HEROLD_WHATSAPP_FROM_MARKETING": "+4930555000"}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for _, m := range []map[string]string{twilio, extra} {
			for k, v := range m {
				env[k] = v
			}
		}
		return env
	}
	undeclared := t.TempDir()
	path := filepath.Join(undeclared, "en/messenger_offer/whatsapp.vars.tmpl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	vars := "1={{.Data.contact.first_name}}\n2={{.Data.invoice.amount}}\n3=x\n4=x\n5=x\n6={{.Data.offer.image}}\n"
	if err := os.WriteFile(path, []byte(vars), 0o644); err != nil {
		t.Fatal(err)
	}
	const sids = "messenger_offer=HX0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		name string
		env  map[string]string
		want string // in the error; "" = starts
	}{
		{"whatsapp on twilio without templates", twilio, "type messenger_offer: whatsapp: locale de: no approved Content SID"},
		{"with templates", with(map[string]string{"HEROLD_WHATSAPP_CONTENT_SIDS": sids}), ""},
		{"free-form messages instead", with(map[string]string{"HEROLD_WHATSAPP_FREE_FORM": "true"}), ""},
		{"whatsapp to the outbox", nil, ""},
		{"variables the type cannot fill", with(map[string]string{"HEROLD_WHATSAPP_CONTENT_SIDS": sids, "HEROLD_TEMPLATES_DIR": undeclared}),
			`en/messenger_offer/whatsapp.vars.tmpl uses data category "invoice", which type messenger_offer does not declare`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := newWorker(t, c.env)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("New: %v, want it to start", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("New: %v, want an error with %q", err, c.want)
			}
		})
	}
}
