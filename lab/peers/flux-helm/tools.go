//go:build tools

// Package peers pins the binaries this module builds: helm-controller, and the helm CLI of the
// same Helm library (the tests lint, template, package and push the chart with it).
package peers

import (
	_ "github.com/fluxcd/helm-controller"
	_ "helm.sh/helm/v3/cmd/helm"
)
