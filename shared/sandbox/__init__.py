"""Local control planes: etcd plus kube-apiservers on loopback."""
