package config_test

import (
	"strings"
	"testing"
)

// TestHorizonShorterThanRecordTTL is defect 3 of issue 14: with
// HEROLD_SEND_HORIZON=8760h and HEROLD_RECORD_TTL=720h Herold started,
// accepted a message 300 days ahead, and its record expired after 30 days.
// Start-up now refuses it, naming both settings; the campaign horizon alike.
func TestHorizonShorterThanRecordTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string // substrings of the error; none: valid
	}{
		{"defaults", nil, nil},
		{"send horizon beyond the record TTL", map[string]string{"HEROLD_SEND_HORIZON": "8760h", "HEROLD_RECORD_TTL": "720h"},
			[]string{"HEROLD_SEND_HORIZON (8760h)", "HEROLD_RECORD_TTL (720h)", "lose its record"}},
		{"send horizon equal to the record TTL", map[string]string{"HEROLD_SEND_HORIZON": "720h", "HEROLD_RECORD_TTL": "720h"},
			[]string{"HEROLD_SEND_HORIZON", "HEROLD_RECORD_TTL"}},
		{"a day to spare", map[string]string{"HEROLD_SEND_HORIZON": "696h", "HEROLD_RECORD_TTL": "720h"}, nil},
		{"campaign horizon beyond its record TTL", map[string]string{"HEROLD_CAMPAIGN_RECORD_TTL": "720h"},
			[]string{"HEROLD_CAMPAIGN_HORIZON (8784h)", "HEROLD_CAMPAIGN_RECORD_TTL (720h)"}},
		{"both", map[string]string{"HEROLD_RECORD_TTL": "24h", "HEROLD_CAMPAIGN_RECORD_TTL": "24h"},
			[]string{"HEROLD_SEND_HORIZON", "HEROLD_CAMPAIGN_HORIZON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.env)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted %v", tc.env)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
