package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/heroldhq/herold/internal/apikey"
)

type keyCtx struct{}

// Authenticate wraps next so that it runs only with a valid
// "Authorization: Bearer <key>"; the key is then available to handlers
// through KeyFrom. Without a key or with a wrong one it answers 401.
func Authenticate(ring *apikey.Ring, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herold"`)
			WriteError(w, Errorf(http.StatusUnauthorized, "unauthorized", "missing API key: send Authorization: Bearer <key>"))
			return
		}
		key, ok := ring.Authenticate(token)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herold", error="invalid_token"`)
			WriteError(w, Errorf(http.StatusUnauthorized, "unauthorized", "invalid API key"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyCtx{}, key)))
	})
}

// bearer returns the credentials of an "Authorization: Bearer <key>"
// header. The scheme is case-insensitive (RFC 7235 §2.1), so "bearer" and
// "BEARER" work as "Bearer" does.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// KeyFrom returns the API key that authenticated the request.
func KeyFrom(ctx context.Context) (apikey.Key, bool) {
	k, ok := ctx.Value(keyCtx{}).(apikey.Key)
	return k, ok
}

// RequireScope returns a 403 Problem naming scope unless the request's key holds it.
func RequireScope(r *http.Request, scope string) error {
	k, ok := KeyFrom(r.Context())
	if !ok || !k.Allows(scope) {
		return Errorf(http.StatusForbidden, "forbidden", "API key lacks scope %q", scope)
	}
	return nil
}

// WithKey returns ctx carrying k, for tests and internal callers.
func WithKey(ctx context.Context, k apikey.Key) context.Context {
	return context.WithValue(ctx, keyCtx{}, k)
}
