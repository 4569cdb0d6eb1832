//go:build tools

// Package peers pins the binary this module builds.
package peers

import _ "code.gitea.io/gitea"
