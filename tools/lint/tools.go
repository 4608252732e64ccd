//go:build tools

// Package tools pins golangci-lint so `make lint` runs the same linters everywhere.
package tools

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
)
