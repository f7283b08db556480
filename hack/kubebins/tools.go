//go:build tools

// Package kubebins only records, for `go mod tidy`, the two main packages this module builds.
package kubebins

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
