package invalid_test

import (
	"fmt"
	"testing"

	"github.com/heroldhq/herold/internal/invalid"
)

func TestError(t *testing.T) {
	t.Parallel()
	bad := invalid.New("webhook endpoint")
	if bad.Err() != nil {
		t.Fatal("an empty list is an error")
	}
	bad.Add("url", "must be https, not %q", "ftp")
	bad.Add("batch_size", "want 1..100")
	err := fmt.Errorf("create: %w", bad.Err())
	got, ok := invalid.As(err)
	if !ok || len(got.Fields) != 2 || got.Fields[0].Name != "url" {
		t.Fatalf("As(%v) = %+v, %v", err, got, ok)
	}
	if want := `create: invalid webhook endpoint: url: must be https, not "ftp"; batch_size: want 1..100`; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if _, ok := invalid.As(fmt.Errorf("other")); ok {
		t.Error("As found an Error in a plain error")
	}
}
