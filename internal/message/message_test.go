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

func TestChannelRegistry(t *testing.T) {
	t.Parallel()
	codes, prefixes := map[byte]Channel{}, map[string]Channel{}
	for _, s := range ChannelSpecs() {
		if s.Contact != EmailAddress && s.Contact != MobileNumber {
			t.Errorf("%s: contact point %q", s.Channel, s.Contact)
		}
		if prev, dup := codes[s.Code]; dup || s.Code == 0 || s.Code == '|' {
			t.Errorf("%s: code %q unusable (also %s)", s.Channel, s.Code, prev)
		}
		codes[s.Code] = s.Channel
		if s.InboundPrefix != "" {
			if prev, dup := prefixes[s.InboundPrefix]; dup {
				t.Errorf("%s: inbound prefix %q also %s", s.Channel, s.InboundPrefix, prev)
			}
			prefixes[s.InboundPrefix] = s.Channel
		}
		for _, l := range []string{"de", "en"} {
			if s.Name[l] == "" || s.By[l] == "" {
				t.Errorf("%s: no name or phrase in %s", s.Channel, l)
			}
		}
		if got, ok := ChannelByCode(s.Code); !ok || got != s.Channel {
			t.Errorf("ChannelByCode(%q) = %s", s.Code, got)
		}
	}
	if ChannelList() != "email, sms, whatsapp or rcs" {
		t.Errorf("ChannelList() = %q", ChannelList())
	}
	for from, want := range map[string]Channel{"whatsapp:+491511": WhatsApp, "rcs:+491511": RCS, "+491511": SMS} {
		if ch, num := InboundChannel(from); ch != want || num != "+491511" {
			t.Errorf("InboundChannel(%q) = %s %s", from, ch, num)
		}
	}
	if got := ChannelsOf(MobileNumber); len(got) != 3 || got[0] != SMS {
		t.Errorf("ChannelsOf(mobile) = %v", got)
	}
}
