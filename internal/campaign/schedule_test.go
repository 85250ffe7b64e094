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

func TestQuietHoursUntil(t *testing.T) {
	t.Parallel()
	berlin := mustZone(t, "Europe/Berlin")
	tokyo := mustZone(t, "Asia/Tokyo")
	q, err := ParseQuietHours("20:00", "08:00")
	if err != nil {
		t.Fatal(err)
	}
	day, err := ParseQuietHours("12:00", "14:00")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		q         QuietHours
		at        time.Time
		loc       *time.Location
		wantQuiet bool
		wantEnd   time.Time
	}{
		{"23:00 Berlin is quiet until 08:00 next day", q, time.Date(2026, 11, 25, 23, 0, 0, 0, berlin), berlin, true, time.Date(2026, 11, 26, 8, 0, 0, 0, berlin)},
		{"03:00 Berlin is quiet until 08:00 the same day", q, time.Date(2026, 11, 25, 3, 0, 0, 0, berlin), berlin, true, time.Date(2026, 11, 25, 8, 0, 0, 0, berlin)},
		{"20:00 sharp is quiet", q, time.Date(2026, 11, 25, 20, 0, 0, 0, berlin), berlin, true, time.Date(2026, 11, 26, 8, 0, 0, 0, berlin)},
		{"08:00 sharp is not quiet", q, time.Date(2026, 11, 25, 8, 0, 0, 0, berlin), berlin, false, time.Time{}},
		{"19:59 is not quiet", q, time.Date(2026, 11, 25, 19, 59, 0, 0, berlin), berlin, false, time.Time{}},
		{"14:00 UTC is 23:00 in Tokyo", q, time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC), tokyo, true, time.Date(2026, 11, 26, 8, 0, 0, 0, tokyo)},
		{"14:00 UTC is 15:00 in Berlin", q, time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC), berlin, false, time.Time{}},
		{"window without wrap, inside", day, time.Date(2026, 11, 25, 13, 0, 0, 0, berlin), berlin, true, time.Date(2026, 11, 25, 14, 0, 0, 0, berlin)},
		{"window without wrap, after", day, time.Date(2026, 11, 25, 14, 30, 0, 0, berlin), berlin, false, time.Time{}},
		{"night before spring DST change ends 08:00 CEST", q, time.Date(2026, 3, 28, 22, 0, 0, 0, berlin), berlin, true, time.Date(2026, 3, 29, 8, 0, 0, 0, berlin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			end, quiet := tt.q.Until(tt.at, tt.loc)
			if quiet != tt.wantQuiet || !end.Equal(tt.wantEnd) {
				t.Errorf("Until(%s) = %s, %v; want %s, %v", tt.at, end, quiet, tt.wantEnd, tt.wantQuiet)
			}
		})
	}
}

func TestParseQuietHoursRejects(t *testing.T) {
	t.Parallel()
	for _, in := range [][2]string{{"20:00", "20:00"}, {"25:00", "08:00"}, {"20:00", "8"}} {
		if _, err := ParseQuietHours(in[0], in[1]); err == nil {
			t.Errorf("ParseQuietHours(%q, %q) accepted", in[0], in[1])
		}
	}
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
