"""The real-node tier: a one-node Kubernetes on this machine, with real Ray pods."""
