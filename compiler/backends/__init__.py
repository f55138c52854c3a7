"""One backend per target API over the target-neutral IR: NetworkPolicy v1, ClusterNetworkPolicy v1alpha2, AdminNetworkPolicy v1alpha1."""
