package console

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a console user may do.
type Role string

// The roles. Admin may do everything the others may.
const (
	Viewer     Role = "viewer"     // looks at overview, campaigns and catalog; changes nothing
	Marketing  Role = "marketing"  // campaigns, segments, lists
	Compliance Role = "compliance" // people, ledger, "Why?", export, erasure, suppressions, audit log
	Admin      Role = "admin"      // everything, plus webhooks and users
)

// Roles lists the roles from least to most powerful.
func Roles() []Role { return []Role{Viewer, Marketing, Compliance, Admin} }

// ParseRole returns the role named s, or an error that names s.
func ParseRole(s string) (Role, error) {
	if r := Role(s); slices.Contains(Roles(), r) {
		return r, nil
	}
	return "", fmt.Errorf("role %q: want viewer, marketing, compliance or admin", s)
}

// Permission is one thing a role may do in the console.
type Permission string

// The permissions. A See… permission opens screens; every other one allows
// a change (a POST), which the audit log records.
const (
	SeeOverview      Permission = "see_overview"
	SeeCampaigns     Permission = "see_campaigns"
	SeeCatalog       Permission = "see_catalog"
	SeeSegments      Permission = "see_segments"
	ChangeCampaigns  Permission = "change_campaigns" // create, start, pause, resume, cancel, dry run
	ChangeSegments   Permission = "change_segments"
	SeeLists         Permission = "see_lists"
	SeePeople        Permission = "see_people" // search, person page, campaign messages, "Why?"
	ExportPeople     Permission = "export_people"
	ErasePeople      Permission = "erase_people"
	SeeSuppressions  Permission = "see_suppressions"
	LiftSuppressions Permission = "lift_suppressions"
	SeeAudit         Permission = "see_audit" // the audit log and its export
	SeeWebhooks      Permission = "see_webhooks"
	ReplayWebhooks   Permission = "replay_webhooks"
	SeeUsers         Permission = "see_users"
)

// grants says which roles hold each permission (admin holds all). It is the
// one source of the roles table in docs/console.md (TestRolesTable).
var grants = []struct {
	Permission Permission
	Roles      []Role
	What       string // for the roles table
}{
	{SeeOverview, []Role{Viewer, Marketing, Compliance}, "overview: deliveries, queues, suppressions"},
	{SeeCampaigns, []Role{Viewer, Marketing, Compliance}, "campaigns: list, progress, per-recipient outcomes and their reason"},
	{SeeCatalog, []Role{Viewer, Marketing, Compliance}, "catalog: message types, legal bases, rules, notice"},
	{SeeSegments, []Role{Viewer, Marketing, Compliance}, "segments: definitions, counts"},
	{ChangeCampaigns, []Role{Marketing}, "create, dry-run, start, pause, resume, cancel campaigns"},
	{ChangeSegments, []Role{Marketing}, "save and delete segments"},
	{SeeLists, []Role{Marketing, Compliance}, "newsletter lists: members and pending sign-ups"},
	{SeePeople, []Role{Compliance}, "people: search, profile, consent ledger, messages, policy matrix, \"Why?\""},
	{ExportPeople, []Role{Compliance}, "download a person's export (Art. 15, 20 GDPR)"},
	{ErasePeople, []Role{Compliance}, "erase a person (Art. 17 GDPR)"},
	{SeeSuppressions, []Role{Compliance}, "suppression list"},
	{LiftSuppressions, []Role{Compliance}, "lift a suppression, with a reason"},
	{SeeAudit, []Role{Compliance}, "audit log and its export"},
	{SeeWebhooks, nil, "webhook endpoints and their delivery log"},
	{ReplayWebhooks, nil, "replay a webhook delivery"},
	{SeeUsers, nil, "console users"},
}

// Can reports whether role r holds permission p.
func (r Role) Can(p Permission) bool {
	if r == Admin {
		return true
	}
	for _, g := range grants {
		if g.Permission == p {
			return slices.Contains(g.Roles, r)
		}
	}
	return false
}

// RolesTable is the roles table of docs/console.md, in Markdown.
func RolesTable() string {
	var b strings.Builder
	b.WriteString("| may … | viewer | marketing | compliance | admin |\n|---|---|---|---|---|\n")
	for _, g := range grants {
		b.WriteString("| " + g.What)
		for _, r := range Roles() {
			if r.Can(g.Permission) {
				b.WriteString(" | ✓")
			} else {
				b.WriteString(" | –")
			}
		}
		b.WriteString(" |\n")
	}
	return b.String()
}
