package store

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ErrUndecodable means a stored record could not be decoded: written by
// another version of Herold, or damaged. Export and erasure still handle
// such a record by its stored bytes (RawRecord), so no record can keep a
// person's data out of an export or in Redis after an erasure.
var ErrUndecodable = errors.New("stored record cannot be decoded")

// RawRecord is a stored record that cannot be decoded, as its bytes.
type RawRecord struct {
	Kind string `json:"kind"` // "message", "campaign"
	ID   string `json:"id"`
	Raw  string `json:"raw"` // the stored bytes, as they are
}

// providerID is the provider's message id in a message record that does not
// decode as a whole (a field that does not fit its type elsewhere), so
// erasure can drop the provider index entry too; "" when not even that reads.
func (r RawRecord) providerID() string {
	var v struct {
		ProviderID string `json:"provider_message_id"`
	}
	if json.Unmarshal([]byte(r.Raw), &v) != nil {
		return ""
	}
	return v.ProviderID
}

// decodeExact decodes a stored record whose template data is untyped JSON,
// keeping numbers as json.Number: 12345678901234567890 stays exact instead of
// becoming a float64, and a number beyond float64's range does not make the
// record unreadable.
func decodeExact(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// campaignSpecLenient decodes a campaign's spec for an export: a spec whose
// shared template data does not decode still names the campaign's type,
// channels and name, which is what a person's campaign message shows.
func campaignSpecLenient(id, j string) Campaign {
	var c Campaign
	if decodeExact([]byte(j), &c) == nil {
		return c
	}
	var head struct {
		Campaign
		Data json.RawMessage `json:"data,omitempty"` // shadows Campaign.Data: left undecoded
	}
	if json.Unmarshal([]byte(j), &head) != nil {
		return Campaign{ID: id}
	}
	head.Campaign.ID = id
	return head.Campaign
}
