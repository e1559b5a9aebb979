"""A real kube-apiserver (with etcd) on 127.0.0.1 for rayop's tests; see docs/real-apiserver.md."""
