package dispatchtest

import (
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/email"
	"github.com/heroldhq/herold/channels/sms"
	"github.com/heroldhq/herold/channels/twilio"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/dispatch"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
)

// The Twilio account of NewPipeline's fake, and the SMS senders it uses.
const (
	AccountSID           = "AC0123456789abcdef0123456789abcdef"
	AuthToken            = "secrettoken42"
	SMSFromTransactional = "+4930123456"
	SMSFromMarketing     = "+4930654321"
)

// TB is the part of testing.TB that NewPipeline uses. It is an interface so
// that this package, which `herold load` links, does not import testing.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// PipelineOptions are what the tests' pipelines differ in.
type PipelineOptions struct {
	// Redis and Prefix are the test's own, from redistest.Client.
	Redis  redis.UniversalClient
	Prefix string
	Salt   string // the store's HMAC salt
	Secret string // the sealer's key
	Log    *slog.Logger

	PublicURL     string // of the links the renderer writes
	SMSStopNumber string // render.Options.SMSStopNumber; empty for none

	MailFrom, MailFromName string
	MailPool               int

	// SMS starts the Twilio fake and the real SMS sender talking to it.
	SMS bool
}

// Pipeline is the part of Herold that the end-to-end tests share, built as
// `herold serve` and `herold worker` build it: the store on real Redis, the
// default catalog, the renderer with the embedded templates, the real e-mail
// sender talking SMTP to an SMTPSink that keeps the mails, optionally the
// real SMS sender talking to a TwilioFake, and an asynq client and inspector
// on the same Redis. Queues and workers are each test's own.
type Pipeline struct {
	Store     *store.Store
	Catalog   *policy.Catalog
	Sealer    *token.Sealer
	Renderer  *render.Renderer
	SMTP      *SMTPSink
	Twilio    *TwilioFake // nil without SMS
	Senders   map[message.Channel]channels.Sender
	Client    *asynq.Client
	Inspector *asynq.Inspector
}

// NewPipeline builds a Pipeline; t.Cleanup stops the servers and senders.
func NewPipeline(t TB, o PipelineOptions) *Pipeline {
	t.Helper()
	p := &Pipeline{Store: store.New(o.Redis, o.Prefix, store.WithSalt(o.Salt))}
	var err error
	if p.Catalog, err = policy.ParseCatalog(policy.DefaultCatalog()); err != nil {
		t.Fatal(err)
	}
	if p.Sealer, err = token.NewSealer(o.Secret); err != nil {
		t.Fatal(err)
	}
	if p.Renderer, err = render.New(render.Options{Catalog: p.Catalog, Sealer: p.Sealer, PublicURL: o.PublicURL, SMSStopNumber: o.SMSStopNumber}); err != nil {
		t.Fatal(err)
	}

	if p.SMTP, err = NewSMTPSink(true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.SMTP.Close() })
	mailer, err := email.New(email.Config{
		Host: p.SMTP.Host, Port: p.SMTP.Port, TLS: email.TLSOff, PoolSize: o.MailPool, Timeout: 5 * time.Second,
		ComposeConfig: email.ComposeConfig{From: o.MailFrom, FromName: o.MailFromName},
	}, o.Log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mailer.Close() })
	p.Senders = map[message.Channel]channels.Sender{message.Email: mailer}

	if o.SMS {
		p.Twilio = NewTwilioFake(AccountSID, AuthToken)
		t.Cleanup(p.Twilio.Close)
		tw, err := twilio.New(twilio.Config{AccountSID: AccountSID, AuthToken: AuthToken, Timeout: 5 * time.Second, Transport: p.Twilio.Transport()})
		if err != nil {
			t.Fatal(err)
		}
		smsSender, err := sms.New(tw, sms.Config{From: twilio.From{Transactional: SMSFromTransactional, Marketing: SMSFromMarketing}}, o.Log)
		if err != nil {
			t.Fatal(err)
		}
		p.Senders[message.SMS] = smsSender
	}

	p.Client = asynq.NewClientFromRedisClient(o.Redis)
	p.Inspector = asynq.NewInspectorFromRedisClient(o.Redis)
	return p
}

// Dispatch builds the dispatch service that submits to queues qs and the
// dispatcher that delivers with p's senders, with the settings the tests
// share; the worker that runs the dispatcher is the test's.
func (p *Pipeline) Dispatch(t TB, qs queue.Queues, log *slog.Logger) (*dispatch.Service, *dispatch.Dispatcher) {
	t.Helper()
	svc, err := dispatch.NewService(dispatch.ServiceOptions{
		Store: p.Store, Catalog: p.Catalog, Client: p.Client, Inspector: p.Inspector, Queues: qs,
		Settings: config.Dispatch{SendHorizon: 720 * time.Hour, SendAtTolerance: time.Minute, IdempotencyTTL: 24 * time.Hour, SendTimeout: 5 * time.Second},
		MaxRetry: 3, RecordTTL: time.Hour, Region: "DE", Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{
		Store: p.Store, Catalog: p.Catalog, Renderer: p.Renderer, Senders: p.Senders,
		RecordTTL: time.Hour, SendTimeout: 5 * time.Second, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc, d
}
