//go:build e2e

package bench

import "github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"

var withoutMarks = e2e.WithoutMarks
