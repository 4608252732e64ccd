// Command pulumi-resource-auto-deploy is the auto-deploy provider plugin the Pulumi engine starts.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/autodeploy-dev/pulumi-auto-deploy/provider"
)

func main() {
	p, err := provider.New(provider.NewCloudClient)
	if err == nil {
		err = p.Run(context.Background(), provider.Name, provider.Version)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}
