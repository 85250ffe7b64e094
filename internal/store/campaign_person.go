package store

// One person across campaigns, for the rights of access (Export) and erasure
// (DeleteRecipient).
//
// A campaign keeps its recipients compactly under its own hash tag (see
// campaigns.go): an outcome entry in :out, a due time in :later, a retry
// count in :tries and, while it is not finished, the id in an audience chunk
// in :aud. Nothing is kept under the recipient's tag, so finding a person
// means visiting every campaign: the index <prefix>campaigns lists them.
// Campaigns are few next to recipients, and these operations are rare, so
// one pipelined read (or script) per campaign is the price, plus, for each
// campaign that still has an audience, a paged scan of its chunks inside
// Redis (audienceScript: about 10 B per queued recipient, never sent over
// the wire). The send path pays nothing for it.
//
// Campaigns created before the index existed are not in it; nothing adds
// them (there is no release with campaigns yet).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// campaignIndexKey is a sorted set campaign id → creation time (unix ms),
// written by CreateCampaign. Ids of campaigns whose keys expired are dropped
// lazily by personCampaigns.
func (s *Store) campaignIndexKey() string { return s.prefix + "campaigns" }

// CampaignIDs returns the ids in the campaign index, oldest first.
func (s *Store) CampaignIDs(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.ZRange(ctx, s.campaignIndexKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("campaign index: %w", err)
	}
	return ids, nil
}

// CampaignMessage is one campaign's message to a person as the export shows
// it: the compact outcome entry decoded (decodeOutcome), with the rule and
// provider id written out in full and the decision rebuilt from its stored
// parts (the data categories and evidence are the catalog's and the ledger's,
// both in the export already).
type CampaignMessage struct {
	CampaignID   string          `json:"campaign_id"`
	CampaignName string          `json:"campaign_name,omitempty"`
	MessageID    string          `json:"message_id"`
	Type         message.Type    `json:"type,omitempty"`
	Status       string          `json:"status"` // delivered, suppressed, failed, waiting, sending, queued
	Channel      message.Channel `json:"channel,omitempty"`
	// Decision is set once the message was decided (delivered, suppressed, failed).
	Decision   *policy.Decision `json:"decision,omitempty"`
	Attempts   int              `json:"attempts,omitempty"`
	ErrorClass string           `json:"error_class,omitempty"`
	ProviderID string           `json:"provider_message_id,omitempty"`
	DecidedAt  time.Time        `json:"decided_at,omitzero"`
	DoneAt     time.Time        `json:"done_at,omitzero"`
}

// campaignMessageOf writes out outcome o of campaign c.
func campaignMessageOf(c Campaign, o Outcome) CampaignMessage {
	msgID := CampaignMessageID(c.ID, o.Recipient)
	status := o.Status.String()
	if o.Status == 0 {
		status = "queued"
	}
	m := CampaignMessage{CampaignID: c.ID, CampaignName: c.Name, MessageID: msgID, Type: c.Type, Status: status,
		Channel: o.Channel, Attempts: o.Attempts, ErrorClass: o.ErrorClass, ProviderID: o.ProviderID,
		DecidedAt: o.DecidedAt, DoneAt: o.DoneAt}
	if o.Status == OutcomeDelivered || o.Status == OutcomeSuppressed || o.Status == OutcomeFailed {
		m.Decision = &policy.Decision{
			Allowed: o.Status != OutcomeSuppressed, Basis: o.Basis, Reason: o.Reason, Rule: o.Rule,
			DecidedAt: o.DecidedAt, CatalogVersion: o.Catalog, Type: c.Type, Channel: o.Channel, Recipient: o.Recipient,
		}
	}
	return m
}

// personCampaign is what one campaign holds on a person.
type personCampaign struct {
	id    string
	entry string // the raw :out value, "" if none
	aud   bool   // the campaign still has an audience (it is not finished)
}

// personCampaigns reads, in one pipeline, rid's outcome entry in every
// indexed campaign and whether the campaign still keeps an audience. It
// drops index entries of campaigns whose keys have expired.
func (s *Store) personCampaigns(ctx context.Context, rid message.RecipientID) ([]personCampaign, error) {
	ids, err := s.CampaignIDs(ctx)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	outs := make([]*redis.StringCmd, len(ids))
	metas := make([]*redis.IntCmd, len(ids))
	auds := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		outs[i] = pipe.HGet(ctx, s.campaignKey(id, "out"), string(rid))
		metas[i] = pipe.Exists(ctx, s.campaignKey(id, "meta"))
		auds[i] = pipe.Exists(ctx, s.campaignKey(id, "aud"))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("campaigns of recipient %s: %w", rid, err)
	}
	var out []personCampaign
	var gone []any
	for i, id := range ids {
		if metas[i].Val() == 0 {
			gone = append(gone, id)
		}
		out = append(out, personCampaign{id: id, entry: outs[i].Val(), aud: auds[i].Val() > 0})
	}
	if len(gone) > 0 {
		// Campaign ids are random and never reused, so an id whose meta key
		// is gone belongs to a campaign that expired for good.
		if err := s.rdb.ZRem(ctx, s.campaignIndexKey(), gone...).Err(); err != nil {
			return nil, fmt.Errorf("campaigns of recipient %s: prune index: %w", rid, err)
		}
	}
	return out, nil
}

// audiencePageCount is how many chunks one audience script looks at: a few
// hundred ids each, so one call stays well under a millisecond of Redis time
// and a large audience does not block the server (invoices share it).
const audiencePageCount = 64

// audienceScript looks at one HSCAN page of a campaign's audience chunks for
// one recipient. KEYS: aud, meta, n, chunks, done. ARGV[1] cursor, ARGV[2]
// count, ARGV[3] recipient id, ARGV[4] mode ("find" or "erase"), ARGV[5] the
// chunk that gave the recipient a final outcome ("" if none).
//
// In erase mode the id is cut out of every chunk on the page (an emptied
// chunk is deleted; ChunkRecipients reads a missing chunk as empty). While
// the campaign is not finished its audience counter goes down by each
// occurrence cut from a chunk that has not finished, except the one whose
// outcome is already counted (ARGV[5]): an occurrence in a finished chunk
// was counted as an outcome or a duplicate, one in an unfinished chunk would
// have been counted later and now never will. A waiting recipient from a
// finished chunk is subtracted by forgetScript instead.
//
// Returns {next cursor, occurrences found}.
var audienceScript = redis.NewScript(`
local page = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local rid, erase, final = ARGV[3], ARGV[4] == 'erase', ARGV[5]
local st = redis.call('HGET', KEYS[2], 'state')
local counts = erase and st and st ~= 'done' and st ~= 'canceled'
local found, dec = 0, 0
local kv = page[2]
for i = 1, #kv, 2 do
  local name, v = kv[i], kv[i + 1]
  if string.find('\n' .. v .. '\n', '\n' .. rid .. '\n', 1, true) then
    local keep, n = {}, 0
    for id in string.gmatch(v, '[^\n]+') do
      if id == rid then n = n + 1 else keep[#keep + 1] = id end
    end
    found = found + n
    if erase then
      if #keep == 0 then
        redis.call('HDEL', KEYS[1], name)
      else
        redis.call('HSET', KEYS[1], name, table.concat(keep, '\n'))
      end
      if counts then
        local idx = redis.call('LPOS', KEYS[4], name)
        if not (idx and redis.call('GETBIT', KEYS[5], idx) == 1) then
          -- final is the owner ("c<index>") whose outcome was final: that
          -- occurrence was counted already.
          if idx and final == 'c' .. idx then n = n - 1 end
          dec = dec + n
        end
      end
    end
  end
end
if dec > 0 then redis.call('HINCRBY', KEYS[3], 'audience', -dec) end
return {page[1], found}
`)

// scanAudience runs audienceScript over a campaign's whole audience and
// returns how many times rid occurs in it.
func (s *Store) scanAudience(ctx context.Context, id string, rid message.RecipientID, mode, final string) (int, error) {
	keys := []string{s.campaignKey(id, "aud"), s.campaignKey(id, "meta"), s.campaignKey(id, "n"),
		s.campaignKey(id, "chunks"), s.campaignKey(id, "done")}
	cursor, total := "0", 0
	for {
		res, err := audienceScript.Run(ctx, s.rdb, keys, cursor, audiencePageCount, string(rid), mode, final).Slice()
		if err != nil {
			return total, fmt.Errorf("campaign %s: audience of %s: %w", id, rid, err)
		}
		cursor, _ = res[0].(string)
		n, _ := res[1].(int64)
		total += int(n)
		if cursor == "0" || cursor == "" {
			return total, nil
		}
	}
}

// forgetScript removes a recipient's outcome entry, later-set entry and
// retry count from one campaign. KEYS: out, later, tries, meta, n, done.
// ARGV[1] recipient id. A recipient that was waiting or being sent (no final
// outcome) on behalf of a chunk that has finished would have been
// counted when done; while the campaign is not finished the audience counter
// goes down by one for it, so the counters still add up. Returns the removed
// entry ("" if there was none).
var forgetScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if not v then return '' end
local c = string.sub(v, 1, 1)
local st = redis.call('HGET', KEYS[4], 'state')
if (c == 'w' or c == 'p') and st and st ~= 'done' and st ~= 'canceled' then
  -- the mark names its owner, "c<chunk index>" (a sweep's: "l.c<index>")
  local origin = string.sub(v, 2)
  if string.sub(origin, 1, 2) == 'l.' then origin = string.sub(origin, 3) end
  local idx = tonumber(string.sub(origin, 2))
  if string.sub(origin, 1, 1) == 'c' and idx and redis.call('GETBIT', KEYS[6], idx) == 1 then
    redis.call('HINCRBY', KEYS[5], 'audience', -1)
  end
end
return v
`)

// forgetInCampaigns runs forgetScript on every campaign in one pipeline (one
// script per campaign: each campaign's keys live in their own cluster slot)
// and returns the removed entries by campaign id.
func (s *Store) forgetInCampaigns(ctx context.Context, rid message.RecipientID, ids []string) (map[string]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(ids))
	for i, id := range ids {
		keys := []string{s.campaignKey(id, "out"), s.campaignKey(id, "later"), s.campaignKey(id, "tries"),
			s.campaignKey(id, "meta"), s.campaignKey(id, "n"), s.campaignKey(id, "done")}
		// Eval, not EvalSha: a pipeline cannot fall back on NOSCRIPT.
		cmds[i] = forgetScript.Eval(ctx, pipe, keys, string(rid))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("forget recipient %s in campaigns: %w", rid, err)
	}
	out := make(map[string]string, len(ids))
	for i, id := range ids {
		out[id], _ = cmds[i].Text()
	}
	return out, nil
}

// CampaignMessages returns every campaign message Herold holds for rid, from
// the outcome entries of the indexed campaigns, oldest campaign first. A
// recipient in the audience of a campaign that has not reached them yet is
// listed with status "queued". Never nil.
func (s *Store) CampaignMessages(ctx context.Context, rid message.RecipientID) ([]CampaignMessage, error) {
	pcs, err := s.personCampaigns(ctx, rid)
	if err != nil {
		return nil, err
	}
	var hits []personCampaign
	for _, pc := range pcs {
		if pc.entry == "" && pc.aud {
			n, err := s.scanAudience(ctx, pc.id, rid, "find", "")
			if err != nil {
				return nil, err
			}
			if n == 0 {
				continue
			}
		} else if pc.entry == "" {
			continue
		}
		hits = append(hits, pc)
	}
	out := []CampaignMessage{}
	if len(hits) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	specs := make([]*redis.StringCmd, len(hits))
	for i, h := range hits {
		specs[i] = pipe.HGet(ctx, s.campaignKey(h.id, "meta"), "j")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("campaign messages of %s: %w", rid, err)
	}
	for i, h := range hits {
		c := Campaign{ID: h.id}
		if j := specs[i].Val(); j != "" {
			c = campaignSpecLenient(h.id, j)
		}
		out = append(out, campaignMessageOf(c, decodeOutcome(c.ID, c.Type, rid, h.entry)))
	}
	return out, nil
}

// EraseFromCampaigns removes rid from every indexed campaign: its outcome,
// later-set and retry entries, and every occurrence in the audience chunks of
// campaigns that still have an audience (staged chunks of an upload in
// progress included), adjusting the audience counter so that the counters of
// a running campaign still add up. Aggregate counters (delivered, suppressed
// by reason, ...) are not personal data and stay.
func (s *Store) EraseFromCampaigns(ctx context.Context, rid message.RecipientID) error {
	pcs, err := s.personCampaigns(ctx, rid)
	if err != nil {
		return err
	}
	ids := make([]string, len(pcs))
	for i, pc := range pcs {
		ids[i] = pc.id
	}
	removed, err := s.forgetInCampaigns(ctx, rid, ids)
	if err != nil {
		return err
	}
	for _, pc := range pcs {
		if !pc.aud {
			continue
		}
		final := ""
		if v := removed[pc.id]; v != "" && strings.ContainsRune("dsf", rune(v[0])) {
			final = markOrigin(v)
		}
		if _, err := s.scanAudience(ctx, pc.id, rid, "erase", final); err != nil {
			return err
		}
	}
	return nil
}

// ForgetInCampaigns removes rid's outcome, waiting and retry entries from
// every campaign once more: erasure's last step, for a chunk that claimed
// the recipient before its profile went and wrote an outcome meanwhile.
func (s *Store) ForgetInCampaigns(ctx context.Context, rid message.RecipientID) error {
	ids, err := s.CampaignIDs(ctx)
	if err == nil {
		_, err = s.forgetInCampaigns(ctx, rid, ids)
	}
	if err != nil {
		return fmt.Errorf("forget %s in campaigns: %w", rid, err)
	}
	return nil
}
