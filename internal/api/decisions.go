package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/store"
)

// Decisions serves POST /v1/decisions: it asks the policy whether a message
// may go out, without sending anything, so producers and compliance can ask
// "may I?" first. It needs the "decisions" scope.
type Decisions struct {
	Store   *store.Store
	Catalog *policy.Catalog
	Log     *slog.Logger
	MaxBody int64            // request body limit; 0 means DefaultMaxBody
	Now     func() time.Time // clock; nil means time.Now
	// Zones resolves recipients' time zones for local-time rules (quiet
	// hours); nil: UTC for all.
	Zones *recipient.Zones
}

// Routes registers the decisions API on mux.
func (h *Decisions) Routes(mux Mux) {
	mux.HandleFunc("POST /v1/decisions", h.decide)
}

// decisionRequest asks for one channel ("channel") or several ("channels").
type decisionRequest struct {
	Type        string   `json:"type"`
	RecipientID string   `json:"recipient_id"`
	Channel     string   `json:"channel,omitempty"`
	Channels    []string `json:"channels,omitempty"`
	List        string   `json:"list,omitempty"` // newsletter list; empty: the type's first list
}

// decisionsAnswer is the answer for "channels": one decision each, in the order asked.
type decisionsAnswer struct {
	Decisions []policy.Decision `json:"decisions"`
}

func (h *Decisions) decide(w http.ResponseWriter, r *http.Request) {
	if err := RequireScope(r, apikey.ScopeDecisions); err != nil {
		WriteError(w, err)
		return
	}
	var req decisionRequest
	if err := DecodeJSON(w, r, h.MaxBody, &req); err != nil {
		WriteError(w, err)
		return
	}
	var bad Fields
	if req.Type == "" {
		bad.Add("type", "missing: a message type such as invoice")
	}
	id, err := message.ParseRecipientID(req.RecipientID)
	if err != nil {
		bad.Add("recipient_id", "%v", err)
	}
	var chans []message.Channel
	switch {
	case req.Channel != "" && req.Channels != nil:
		bad.Add("channels", `give "channel" or "channels", not both`)
	case req.Channel != "":
		ch, err := message.ParseChannel(req.Channel)
		if err != nil {
			bad.Add("channel", "%v", err)
		}
		chans = []message.Channel{ch}
	case len(req.Channels) > 0:
		for i, s := range req.Channels {
			ch, err := message.ParseChannel(s)
			switch {
			case err != nil:
				bad.Add(fmt.Sprintf("channels[%d]", i), "%v", err)
			case slices.Contains(chans, ch):
				bad.Add(fmt.Sprintf("channels[%d]", i), "%s given twice", ch)
			}
			chans = append(chans, ch)
		}
	default:
		bad.Add("channel", `missing: give "channel" or a non-empty "channels" list`)
	}
	if err := bad.Err(); err != nil {
		WriteError(w, err)
		return
	}

	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	now = now.UTC()
	// One round trip: profile, ledger and the frequency-cap count.
	snap, err := h.Store.LoadFactsSince(r.Context(), id, h.Catalog.FrequencyCountSince(now))
	if err != nil {
		writeStoreError(r.Context(), h.Log, w, id, "load facts", err)
		return
	}
	out := make([]policy.Decision, len(chans))
	for i, ch := range chans {
		f := snap.Facts(message.Type(req.Type), ch, now, h.Zones.Of(snap.Recipient))
		f.List = req.List
		d := policy.Decide(h.Catalog, f)
		// The answer names what was asked, also for an unknown recipient.
		d.Type, d.Channel, d.Recipient = message.Type(req.Type), ch, id
		out[i] = d
		if h.Log != nil {
			h.Log.DebugContext(r.Context(), "decision asked", "recipient_id", id, "type", req.Type,
				"channel", string(ch), "allowed", d.Allowed, "reason", string(d.Reason))
		}
	}
	if req.Channel != "" {
		WriteJSON(w, http.StatusOK, out[0])
		return
	}
	WriteJSON(w, http.StatusOK, decisionsAnswer{Decisions: out})
}
