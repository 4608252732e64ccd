// Keep dependent Pulumi stacks up to date: declare which stacks redeploy which, and the provider manages the Pulumi Cloud deployment webhooks that do it.
package autodeploy
