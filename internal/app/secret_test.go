package app_test

import (
	"testing"

	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/redistest"
)

func TestSharedSecret(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	ctx := t.Context()
	s1, gen1, err := app.SharedSecret(ctx, rdb, prefix+"secret", "")
	if err != nil || !gen1 || len(s1) < 32 {
		t.Fatalf("first call = %q, %v, %v; want a generated secret of 32+ chars", s1, gen1, err)
	}
	// A second process sharing the Redis gets the same one.
	s2, _, err := app.SharedSecret(ctx, rdb, prefix+"secret", "")
	if err != nil || s2 != s1 {
		t.Fatalf("second call = %q, %v; want %q", s2, err, s1)
	}
	s3, gen3, err := app.SharedSecret(ctx, rdb, prefix+"secret", "configured")
	if err != nil || gen3 || s3 != "configured" {
		t.Fatalf("configured secret: %q, %v, %v", s3, gen3, err)
	}
}
