//go:build tools

// Package peers pins the binary this module builds.
package peers

import _ "sigs.k8s.io/kube-network-policies/cmd"
