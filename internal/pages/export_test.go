package pages

// Recordable is one text the pages can write into the ledger.
type Recordable = recordable

// RecordableTexts exposes recordableTexts to the tests.
func (p *Pages) RecordableTexts(lang string) []Recordable {
	return p.recordableTexts(Locale{Tag: lang})
}
