package recipient

import (
	"encoding/json"
	"fmt"
	"time"
)

// Patch applies a JSON merge patch (RFC 7396) to cur: members replace fields,
// null removes them, arrays such as emails are replaced as a whole. A new
// mobile number loses the old one's verified_at unless the patch sets it,
// because a verification proves only the number it was sent to. The result
// is validated like a whole profile (region is the default phone region); a
// bad result is an *invalid.Error.
func Patch(cur Recipient, patch map[string]any, region string) (Recipient, error) {
	doc, err := toMap(cur)
	if err != nil {
		return Recipient{}, fmt.Errorf("patch recipient %s: %w", cur.ID, err)
	}
	merged, err := json.Marshal(mergePatch(doc, patch))
	if err != nil {
		return Recipient{}, fmt.Errorf("patch recipient %s: %w", cur.ID, err)
	}
	next, err := Decode(string(cur.ID), merged, region)
	if err != nil {
		return Recipient{}, err
	}
	if next.Mobile != nil && cur.Mobile != nil && next.Mobile.Number != cur.Mobile.Number && !patchSetsVerifiedAt(patch) {
		next.Mobile.VerifiedAt = time.Time{}
	}
	return next, nil
}

func patchSetsVerifiedAt(patch map[string]any) bool {
	m, ok := patch["mobile"].(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["verified_at"]
	return ok
}

func toMap(r Recipient) (map[string]any, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(b, &m)
	return m, err
}

// mergePatch applies an RFC 7396 merge patch.
func mergePatch(target any, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}
