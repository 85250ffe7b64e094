package delivery

import (
	"sync"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/render"
)

// Preparer compiles a message once for many recipients
// (internal/render.Renderer does).
type Preparer interface {
	Prepare(s render.Shared) (*render.Prepared, error)
}

// Prepared is a message's templates compiled per channel on first use, for
// all recipients of one Spec (a campaign's). Safe for concurrent use.
type Prepared struct {
	p      Preparer
	shared render.Shared // without Channel

	mu sync.Mutex
	by map[message.Channel]*render.Prepared // nil entry: Prepare failed, render each message
}

// Prepare returns what spec.Prepared takes for every recipient of spec, or
// nil when the renderer cannot prepare (each message is then rendered on
// its own, with the same result).
func (d *Deliverer) Prepare(spec Spec) *Prepared {
	p, ok := d.o.Renderer.(Preparer)
	if !ok {
		return nil
	}
	return &Prepared{p: p, shared: render.Shared{Type: spec.Type, Locale: spec.Locale, Data: spec.Data},
		by: map[message.Channel]*render.Prepared{}}
}

// render renders req, from spec's prepared templates when it has them.
func (d *Deliverer) render(spec Spec, req render.Request) (render.Content, error) {
	if pr := spec.Prepared.channel(req.Channel); pr != nil {
		_, per := req.Split()
		return pr.Render(per)
	}
	return d.o.Renderer.Render(req)
}

// channel returns the prepared templates of ch, preparing them on first use.
// An error preparing means every recipient fails the same way; Render then
// says how, so it is not kept.
func (p *Prepared) channel(ch message.Channel) *render.Prepared {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pr, ok := p.by[ch]
	if !ok {
		s := p.shared
		s.Channel = ch
		pr, _ = p.p.Prepare(s)
		p.by[ch] = pr
	}
	return pr
}
