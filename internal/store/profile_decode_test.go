package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/recipient"
)

// decodeProfile reads profiles with go-json; it must read exactly what
// encoding/json would from everything the store writes.
func TestDecodeProfileAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)
	profiles := []recipient.Recipient{
		{ID: "c_1", Kind: "customer", Emails: []recipient.Email{}},
		{ID: "c_2", Kind: "prospect", Salutation: "Frau", FirstName: "Zoë <\"Ö\"> & \u2028", LastName: "Müller-Lüdenscheidt",
			Company: "A & B \\ C", Locale: "de", TimeZone: "Europe/Berlin", OpenRequest: true,
			Emails: []recipient.Email{{Address: "zoe@example.de", CollectedInSale: true,
				Suppressed: []recipient.Suppression{{Channel: "all", Reason: "hard_bounce", At: at}}}, {Address: "z@x.example"}},
			Mobile:        &recipient.Mobile{Number: "+4915123456789", VerifiedAt: at, Suppressed: []recipient.Suppression{{Channel: "sms", Reason: "provider_stop", At: at}}},
			PostalAddress: &recipient.PostalAddress{Street: "Hauptstraße 1", PostalCode: "10115", City: "Berlin", Country: "DE"},
			Contract:      &recipient.Contract{StartedAt: at.AddDate(-2, 0, 0), EndedAt: at},
			Attributes: recipient.Attributes{"product": []any{"dsl", "tv"}, "lines": 2.0, "score": -0.125, "big": 1e21,
				"vip": true, "off": false, "note": "a\"b\\c<d>", "empty": []any{}},
			CreatedAt: at, UpdatedAt: at.Add(time.Nanosecond)},
	}
	for _, p := range profiles {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var want recipient.Recipient
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		got, err := decodeProfile(b)
		if err != nil {
			t.Fatal(err)
		}
		if want.Emails == nil {
			want.Emails = []recipient.Email{}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-encoding/json +decodeProfile):\n%s", p.ID, d)
		}
	}
	if _, err := decodeProfile([]byte(`{"id":"x","emails":[`)); err == nil {
		t.Fatal("a broken profile decoded")
	}
}
