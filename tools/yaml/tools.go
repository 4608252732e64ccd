//go:build tools

// Package tools pins the YAML language host version so `make tools` builds the same binary everywhere.
package tools

import (
	_ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
)
