"""One cluster: kubeconfig, REST client, staged server-side apply and its plan, order,
inventory, prune, adopt, health and wait.

Knows nothing of Redis, Celery, the store or services (an import-linter contract
keeps it so): callers hand it a client and objects, it hands back typed results.
"""
