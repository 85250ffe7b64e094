package campaign

import (
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSendAt(t *testing.T) {
	t.Parallel()
	berlin := mustZone(t, "Europe/Berlin")
	ny := mustZone(t, "America/New_York")
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) // 13:00 Berlin, 07:00 New York
	tests := []struct {
		name      string
		in        string
		loc       *time.Location
		wantDue   time.Time
		wantStart time.Time
	}{
		{"empty is now", "", berlin, now, now},
		{"absolute", "2026-11-26T09:00:00+01:00", ny, time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC), time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)},
		{"09:00 already passed in Berlin: tomorrow", "09:00", berlin, time.Date(2026, 11, 26, 9, 0, 0, 0, berlin), now},
		{"09:00 still ahead in New York: today", "09:00", ny, time.Date(2026, 11, 25, 9, 0, 0, 0, ny), now},
		{"local date and time", "2026-12-01T09:00", ny, time.Date(2026, 12, 1, 9, 0, 0, 0, ny), time.Date(2026, 11, 30, 19, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSendAt(tt.in, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.DueIn(tt.loc, now); !got.Equal(tt.wantDue) {
				t.Errorf("DueIn = %s, want %s", got, tt.wantDue)
			}
			if got := s.Start(now); !got.Equal(tt.wantStart) {
				t.Errorf("Start = %s, want %s", got, tt.wantStart)
			}
		})
	}
	for _, bad := range []string{"tomorrow", "9am", "2026-13-01T09:00", "24:30"} {
		if _, err := ParseSendAt(bad, now); err == nil {
			t.Errorf("ParseSendAt(%q) accepted", bad)
		}
	}
}
