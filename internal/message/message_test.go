package message

import (
	"strings"
	"testing"
)

func TestParseChannel(t *testing.T) {
	t.Parallel()
	for _, c := range Channels() {
		got, err := ParseChannel(string(c))
		if err != nil || got != c {
			t.Errorf("ParseChannel(%q) = %q, %v", c, got, err)
		}
	}
	for _, s := range []string{"", "Email", "fax", "sms "} {
		if _, err := ParseChannel(s); err == nil || !strings.Contains(err.Error(), "unknown channel") {
			t.Errorf("ParseChannel(%q) error = %v, want unknown channel", s, err)
		}
	}
}

func TestParseRecipientID(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"c", "cust-42", "crm:DE.123_x", strings.Repeat("a", 128)} {
		if _, err := ParseRecipientID(s); err != nil {
			t.Errorf("ParseRecipientID(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "a b", "ä", "x/y", strings.Repeat("a", 129), "a@b"} {
		if _, err := ParseRecipientID(s); err == nil {
			t.Errorf("ParseRecipientID(%q) accepted", s)
		}
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	if got := MaskEmail("maria.mueller@example.de"); got != "m***@***.de" || strings.Contains(got, "mueller") {
		t.Errorf("MaskEmail = %q", got)
	}
	if got := MaskPhone("+4915123456789"); got != "+49***89" {
		t.Errorf("MaskPhone = %q", got)
	}
	if got := MaskEmail("nonsense"); got != "***" {
		t.Errorf("MaskEmail(nonsense) = %q", got)
	}
}
