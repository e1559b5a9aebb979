"""In-process stand-ins for Kubernetes and Ray: the fake cluster, simulators, fake dashboards."""
