package openapitest_test

import (
	"testing"

	"github.com/heroldhq/herold/internal/openapitest"
)

// Herold's API description is valid OpenAPI 3.1.
func TestHeroldDescriptionIsValid(t *testing.T) {
	t.Parallel()
	openapitest.Herold(t)
}
