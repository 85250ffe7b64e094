package message

import (
	"fmt"
	"strings"
	"time"
)

// Channel is a delivery channel. The set is closed: parse it at the edge
// with ParseChannel. Everything Herold must know about a channel is declared
// once, in the registry below; adding one (say Telegram) means a registry
// entry, an adapter under channels/, its templates and its catalog rules.
type Channel string

// The channels Herold can deliver on.
const (
	Email    Channel = "email"
	SMS      Channel = "sms"
	WhatsApp Channel = "whatsapp"
	RCS      Channel = "rcs"
)

// ContactPoint is the kind of address a channel delivers to. A recipient
// holds one of each at most (the primary e-mail address, the mobile number);
// suppression entries are kept per contact point and channel.
type ContactPoint string

// The contact points.
const (
	EmailAddress ContactPoint = "email_address"
	MobileNumber ContactPoint = "mobile_number"
)

// ChannelSpec declares one channel.
type ChannelSpec struct {
	Channel Channel
	// Contact is the address the channel needs.
	Contact ContactPoint
	// Verified: consent on this channel counts only for a verified contact
	// point, because a web or e-mail double opt-in does not prove who holds
	// a number. The catalog must require it in every consent rule of the
	// channel (verified_number).
	Verified bool
	// Code is the channel's one-letter code in compact stored records
	// (campaign outcomes). Never change one: stored records depend on it.
	Code byte
	// InboundPrefix is how the provider names a sender on this channel in
	// inbound webhooks ("whatsapp:+49…"); "" for a bare number.
	InboundPrefix string
	// Session is the channel's customer service window (WhatsApp: 24 hours
	// from the person's last message): inside it free text may go, outside
	// it only templates the provider approved. 0: no such rule.
	Session time.Duration
	// Name is the channel's name for people, by locale ("E-Mail").
	Name map[string]string
	// By completes a sentence about being contacted on the channel, by
	// locale ("per E-Mail", "by e-mail"), for the texts people agree to.
	By map[string]string
}

// registry lists every channel in its stable order. It is never changed
// after start: read it through the functions below.
var registry = []ChannelSpec{
	{Channel: Email, Contact: EmailAddress, Code: 'e',
		Name: map[string]string{"de": "E-Mail", "en": "e-mail"},
		By:   map[string]string{"de": "per E-Mail", "en": "by e-mail"}},
	{Channel: SMS, Contact: MobileNumber, Code: 's',
		Name: map[string]string{"de": "SMS", "en": "SMS"},
		By:   map[string]string{"de": "per SMS", "en": "by SMS"}},
	{Channel: WhatsApp, Contact: MobileNumber, Verified: true, Code: 'w', InboundPrefix: "whatsapp:", Session: 24 * time.Hour,
		Name: map[string]string{"de": "WhatsApp", "en": "WhatsApp"},
		By:   map[string]string{"de": "über WhatsApp", "en": "on WhatsApp"}},
	{Channel: RCS, Contact: MobileNumber, Verified: true, Code: 'r', InboundPrefix: "rcs:",
		Name: map[string]string{"de": "RCS", "en": "RCS"},
		By:   map[string]string{"de": "über RCS", "en": "via RCS"}},
}

// Channels returns every channel in a stable order.
func Channels() []Channel {
	out := make([]Channel, len(registry))
	for i, s := range registry {
		out[i] = s.Channel
	}
	return out
}

// ChannelSpecs returns the registry in its stable order.
func ChannelSpecs() []ChannelSpec {
	out := make([]ChannelSpec, len(registry))
	copy(out, registry)
	return out
}

// Spec returns the declaration of c.
func (c Channel) Spec() (ChannelSpec, bool) {
	for _, s := range registry {
		if s.Channel == c {
			return s, true
		}
	}
	return ChannelSpec{}, false
}

// Valid reports whether c is one of the known channels.
func (c Channel) Valid() bool {
	_, ok := c.Spec()
	return ok
}

// Contact returns the contact point c delivers to ("" for an unknown channel).
func (c Channel) Contact() ContactPoint {
	s, _ := c.Spec()
	return s.Contact
}

// Phone reports whether the channel delivers to a mobile number.
func (c Channel) Phone() bool { return c.Contact() == MobileNumber }

// ChannelsOf returns the channels that deliver to contact point cp, in order.
func ChannelsOf(cp ContactPoint) []Channel {
	var out []Channel
	for _, s := range registry {
		if s.Contact == cp {
			out = append(out, s.Channel)
		}
	}
	return out
}

// ChannelByCode returns the channel with one-letter code b.
func ChannelByCode(b byte) (Channel, bool) {
	for _, s := range registry {
		if s.Code == b {
			return s.Channel, true
		}
	}
	return "", false
}

// InboundChannel splits a provider's sender address ("whatsapp:+49…") into
// its channel and the bare number; an address without a known prefix is SMS.
func InboundChannel(from string) (Channel, string) {
	for _, s := range registry {
		if s.InboundPrefix != "" && strings.HasPrefix(from, s.InboundPrefix) {
			return s.Channel, strings.TrimPrefix(from, s.InboundPrefix)
		}
	}
	return SMS, from
}

// ChannelList names every channel for error messages: "email, sms, whatsapp or rcs".
func ChannelList() string {
	names := make([]string, len(registry))
	for i, s := range registry {
		names[i] = string(s.Channel)
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// ParseChannel returns the channel named s, or an error that names s.
func ParseChannel(s string) (Channel, error) {
	c := Channel(s)
	if !c.Valid() {
		return "", fmt.Errorf("unknown channel %q (want %s)", s, ChannelList())
	}
	return c, nil
}
