package media_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/media"
	"github.com/heroldhq/herold/internal/message"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		ch       message.Channel
		url      string
		fallback bool
		want     string // MIME type; "" for refused
	}{
		{message.WhatsApp, "https://cdn.example.com/a/offer.jpg", false, "image/jpeg"},
		{message.WhatsApp, "https://cdn.example.com/a/OFFER.PNG", false, "image/png"},
		{message.WhatsApp, "https://cdn.example.com/clip.mp4?v=2", false, "video/mp4"},
		{message.WhatsApp, "https://cdn.example.com/tarife.pdf", false, "application/pdf"},
		{message.WhatsApp, "https://cdn.example.com/offer.gif", false, ""},  // WhatsApp takes no GIF
		{message.WhatsApp, "https://cdn.example.com/offer.webp", false, ""}, // stickers only
		{message.RCS, "https://cdn.example.com/offer.gif", true, "image/gif"},
		{message.RCS, "https://cdn.example.com/tarife.pdf", false, ""},
		{message.WhatsApp, "http://cdn.example.com/offer.jpg", false, ""},      // not https
		{message.WhatsApp, "https://localhost/offer.jpg", false, ""},           // not public
		{message.WhatsApp, "https://user:pw@cdn.example.com/o.jpg", false, ""}, // credentials
		{message.WhatsApp, "https://cdn.example.com/offer", false, ""},         // no file type
		{message.WhatsApp, "https://cdn.example.com/" + strings.Repeat("a", 2000) + ".jpg", false, ""},
		{message.SMS, "https://cdn.example.com/offer.jpg", false, ""},
	} {
		got, err := media.Check(tt.ch, tt.url, tt.fallback)
		switch {
		case tt.want == "" && (err == nil || !errors.Is(err, media.ErrRefused)):
			t.Errorf("%s %s: %v, want refused", tt.ch, tt.url, err)
		case tt.want != "" && (err != nil || got.MIME != tt.want):
			t.Errorf("%s %s: %q, %v; want %s", tt.ch, tt.url, got.MIME, err, tt.want)
		}
	}
}

// TestFallbackLimit: an RCS card that may fall back to SMS or MMS is held to
// Twilio's MMS limit of 5 MB; RCS alone takes 16 MB.
func TestFallbackLimit(t *testing.T) {
	t.Parallel()
	alone, _ := media.Check(message.RCS, "https://cdn.example.com/a.png", false)
	fallback, _ := media.Check(message.RCS, "https://cdn.example.com/a.png", true)
	if alone.MaxBytes != 16<<20 || fallback.MaxBytes != 5<<20 {
		t.Errorf("limits %d and %d, want 16 MB alone and 5 MB with fallback", alone.MaxBytes, fallback.MaxBytes)
	}
	wa, _ := media.Check(message.WhatsApp, "https://cdn.example.com/a.png", false)
	if wa.MaxBytes != 5<<20 {
		t.Errorf("WhatsApp image limit %d, want 5 MB", wa.MaxBytes)
	}
}

// TestProbe asks a real HTTPS server on loopback, as the providers do.
func TestProbe(t *testing.T) {
	t.Parallel()
	files := map[string]struct {
		typ  string
		size int
	}{
		"/ok.jpg":     {"image/jpeg", 200 << 10},
		"/big.jpg":    {"image/jpeg", 6 << 20},
		"/lying.png":  {"text/html; charset=utf-8", 1000},
		"/legacy.jpg": {"image/jpg", 1000},
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok || r.Method != http.MethodHead {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f.typ)
		w.Header().Set("Content-Length", strconv.Itoa(f.size))
	}))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		path, want string // want: in the error; "" for accepted
	}{
		{"/ok.jpg", ""},
		{"/legacy.jpg", ""},
		{"/big.jpg", "more than whatsapp accepts for image/jpeg (5 MB)"},
		{"/lying.png", `served as "text/html"`},
		{"/gone.jpg", "answers 404"},
	} {
		info, err := media.Probe(t.Context(), srv.Client(), message.WhatsApp, srv.URL+tt.path, false)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.path, err)
		case tt.want == "" && info.Bytes != int64(files[tt.path].size):
			t.Errorf("%s: %d bytes, want %d", tt.path, info.Bytes, files[tt.path].size)
		case tt.want != "" && (!errors.Is(err, media.ErrRefused) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want %q", tt.path, err, tt.want)
		}
	}
}
