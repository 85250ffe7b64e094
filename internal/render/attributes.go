package render

import (
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
)

// DataAttributes is where templates find the recipient's custom attributes:
// {{.Data.attributes.product}}.
const DataAttributes = "attributes"

// attributeData is the attributes part of the data guard: a template sees
// exactly the attributes its type declares in the catalog, each present (nil
// when the person has none, so {{with .Data.attributes.tariff}} works), and no
// other. A template naming an undeclared attribute fails with missing data,
// as one that names a category it may not see, so a template edit cannot
// show more of a person than the catalog says.
func attributeData(spec policy.TypeSpec, profile map[string]any) map[string]any {
	have, _ := profile[recipient.ProfileAttributes].(map[string]any)
	out := make(map[string]any, len(spec.Attributes))
	for _, k := range spec.Attributes {
		out[k] = have[k]
	}
	return out
}
