module github.com/gcptoken/gcptoken/kubetest

go 1.26.0
