//go:build tools

// Package tools pins the Pulumi CLI version so `make tools` builds the same binary everywhere.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
