package main

import (
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/token"
)

// The pages' story through `herold serve`: sign up on the page, the
// confirmation mail goes out by SMTP through the pipeline, confirm, and a
// one-click unsubscribe as a mailbox provider posts it; the ledger (read
// through the API) holds doi_request, doi_confirm and the withdrawal.
func TestServePagesDoubleOptInAndOneClick(t *testing.T) {
	t.Parallel()
	sink, smtpEnv := smtpSinkEnv(t, "newsletter@example.com")
	const secret = "serve-pages-token-secret-0123456789"
	crm := "crm-key-0123456789abcdef"
	env := commandEnv(t, "pages", map[string]string{
		"HEROLD_API_KEYS":     "crm:" + crm + ":recipients",
		"HEROLD_TOKEN_SECRET": secret,
		"HEROLD_HASH_SALT":    "e2e-salt-0123456789abcdef",
	})
	maps.Copy(env, smtpEnv)
	tb := runCommand(t, env, "serve")
	base := "http://" + tb.addr
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	csrfRe := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	page := func(method, u string, form url.Values) (int, http.Header, string) {
		t.Helper()
		var resp *http.Response
		var err error
		if method == "GET" {
			resp, err = c.Get(u)
		} else {
			resp, err = c.PostForm(u, form)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}

	code, hdr, body := page("GET", base+"/subscribe/news?lang=de", nil)
	if code != 200 || !strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("GET /subscribe/news: %d %v", code, hdr)
	}
	tv := regexp.MustCompile(`name="text_version" value="([^"]+)"`).FindStringSubmatch(body)[1]
	code, _, _ = page("POST", base+"/subscribe/news", url.Values{"csrf": {csrfRe.FindStringSubmatch(body)[1]},
		"email": {"serve.pages@example.de"}, "agree": {"yes"}, "text_version": {tv}, "lang": {"de"}})
	if code != 200 {
		t.Fatalf("POST /subscribe/news: %d", code)
	}

	// The confirmation mail, through asynq, the worker and SMTP. Its links
	// use HEROLD_PUBLIC_URL (default 127.0.0.1:8080): swap in our address.
	linkRe := regexp.MustCompile(`/confirm/[A-Za-z0-9_-]+`)
	var link string
	for deadline := time.Now().Add(15 * time.Second); link == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, m := range sink.Mails() {
			if len(m.To) == 1 && m.To[0] == "serve.pages@example.de" {
				link = linkRe.FindString(strings.ReplaceAll(string(m.Data), "=\r\n", ""))
			}
		}
	}
	if link == "" {
		t.Fatalf("no confirmation mail with a link (%d mails)", len(sink.Mails()))
	}
	code, _, body = page("GET", base+link, nil)
	if code != 200 {
		t.Fatalf("GET %s: %d", link, code)
	}
	if code, _, _ = page("POST", base+link, url.Values{"csrf": {csrfRe.FindStringSubmatch(body)[1]}}); code != 200 {
		t.Fatalf("POST confirm: %d", code)
	}

	sealer, err := token.NewSealer(secret)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := sealer.Open(strings.TrimPrefix(link, "/confirm/"), token.Confirm, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	unsub, _ := sealer.Seal(token.Token{Purpose: token.Unsubscribe, Recipient: conf.Recipient, Scope: "newsletter:news",
		Channel: "email", Expires: time.Now().Add(time.Hour)})
	resp, err := http.Post(base+"/unsubscribe/"+unsub, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("one-click: %d", resp.StatusCode)
	}
	code, ledger := tb.send(t, "GET", "/v1/recipients/"+conf.Recipient+"/consents", crm, "")
	if code != 200 {
		t.Fatalf("consents: %d %v", code, ledger)
	}
	var kinds []string
	events, _ := ledger["history"].([]any)
	for _, e := range events {
		kinds = append(kinds, e.(map[string]any)["kind"].(string))
	}
	if strings.Join(kinds, ",") != "doi_request,doi_confirm,withdraw" {
		t.Fatalf("ledger kinds %v, want doi_request, doi_confirm, withdraw\n%v", kinds, ledger)
	}
}
