package provider

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestCreateRetryDelay(t *testing.T) {
	t.Parallel()
	total := time.Duration(0)
	for attempt := 1; attempt < maxCreateAttempts; attempt++ {
		d := createRetryDelay(attempt)
		ceiling := min(createBackoff<<(attempt-1), maxCreateBackoff)
		assert.GreaterOrEqual(t, d, ceiling/2, "attempt %d", attempt)
		assert.LessOrEqual(t, d, ceiling, "attempt %d", attempt)
		total += ceiling
	}
	assert.LessOrEqual(t, total, 25*time.Second, "a create gives up within the budget the docs state")
}
