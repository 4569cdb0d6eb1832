//go:build tools

// Package peers pins the binary this module builds.
package peers

import _ "github.com/yannh/kubeconform/cmd/kubeconform"
