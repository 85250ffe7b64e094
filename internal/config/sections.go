package config

import (
	"reflect"
	"time"
)

// Section is one top-level part of a configuration struct, named after its
// field (HTTP, Redis, SMTP, …), with the settings inside it.
type Section struct {
	Name     string
	Settings []Setting
}

// Sections lists the settings reachable from ptr (a pointer to a struct) by
// the top-level struct field they belong to, in declaration order, so that a
// help text can group some 200 flags by area. Settings tagged on the top level
// itself come first, in a section with an empty name.
func Sections(ptr any) []Section {
	v := reflect.ValueOf(ptr).Elem()
	var sections []Section
	inSection := map[string]bool{}
	for i := range v.NumField() {
		f, fv := v.Type().Field(i), v.Field(i)
		if _, tagged := f.Tag.Lookup("env"); tagged || !f.IsExported() ||
			fv.Kind() != reflect.Struct || fv.Type() == reflect.TypeFor[time.Time]() {
			continue
		}
		var s []Setting
		walk(fv, &s)
		for _, x := range s {
			inSection[x.Env] = true
		}
		if len(s) > 0 {
			sections = append(sections, Section{Name: f.Name, Settings: s})
		}
	}
	var top []Setting
	for _, s := range Settings(ptr) {
		if !inSection[s.Env] {
			top = append(top, s)
		}
	}
	if len(top) > 0 {
		sections = append([]Section{{Settings: top}}, sections...)
	}
	return sections
}
