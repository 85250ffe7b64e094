package config

import (
	"strings"
	"testing"
)

func TestTemplatesSettings(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (Templates, error) {
		var c struct{ Templates Templates }
		err := Load(&c, func(k string) string { return env[k] }, nil)
		return c.Templates, err
	}
	c, err := load(nil)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.DefaultLocale != "de" || strings.Join(c.Locales, ",") != "de,en" || c.SMSMaxSegments != 3 || !c.SMSOptOutLink {
		t.Errorf("defaults = %+v", c)
	}
	c, err = load(map[string]string{"HEROLD_DEFAULT_LOCALE": "fr", "HEROLD_LOCALES": "de, en", "HEROLD_LIST_ID_DOMAIN": "lists.example.com",
		"HEROLD_WHATSAPP_CONTENT_SIDS": "messenger_offer=HX0123456789abcdef0123456789abcdef,messenger_offer:en=HXfedcba9876543210fedcba9876543210"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ListIDDomain != "lists.example.com" {
		t.Errorf("list id domain = %q", c.ListIDDomain)
	}
	if strings.Join(c.Locales, ",") != "de,en,fr" {
		t.Errorf("default locale not added to the required ones: %v", c.Locales)
	}
	if sids := c.ContentSIDs(); sids["messenger_offer"] != "HX0123456789abcdef0123456789abcdef" || sids["messenger_offer:en"] != "HXfedcba9876543210fedcba9876543210" {
		t.Errorf("content sids = %v", sids)
	}
	_, err = load(map[string]string{"HEROLD_DEFAULT_LOCALE": "German", "HEROLD_SMS_MAX_SEGMENTS": "0",
		"HEROLD_UNSUBSCRIBE_MAILTO":    "Abmelden <a@b.example>",
		"HEROLD_WHATSAPP_CONTENT_SIDS": "messenger_offer=HX12", "HEROLD_LINK_TTL": "1m", "HEROLD_LIST_ID_DOMAIN": "192.0.2.1"})
	for _, want := range []string{"HEROLD_DEFAULT_LOCALE", "HEROLD_SMS_MAX_SEGMENTS", "HEROLD_UNSUBSCRIBE_MAILTO", "HEROLD_WHATSAPP_CONTENT_SIDS",
		"HEROLD_LINK_TTL", "HEROLD_LIST_ID_DOMAIN"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
