"""What the sandbox does as cluster admin over plain HTTPS: readiness and RBAC setup."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from shared.sandbox.process import SandboxError

__all__ = ["AdminClient"]

_RBAC = "/apis/rbac.authorization.k8s.io/v1"
# The aggregated built-in roles, inner ones first: without kube-controller-manager
# nothing fills in their rules, so the sandbox does it once, as its
# clusterrole-aggregation controller would.
_AGGREGATED = ("view", "edit", "admin")


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and key in labels and labels[key] in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


class AdminClient:
    """An admin (system:masters) HTTPS client for one sandbox apiserver."""

    def __init__(self, server: str, *, ca_cert: Path, token: str, timeout: float = 5.0) -> None:
        self.server = server
        context = ssl.create_default_context(cafile=str(ca_cert))
        self._http = httpx.Client(
            base_url=server,
            verify=context,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ready(self) -> bool:
        """True when /readyz answers 200 (all post-start hooks, RBAC bootstrap included)."""
        try:
            return self._http.get("/readyz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()) -> Any:
        response = self._http.request(method, path, json=body)
        if response.status_code in ok:
            return None
        if response.is_error:
            raise SandboxError(
                f"{self.server}: {method} {path} answered {response.status_code}: "
                f"{response.text[:500]}"
            )
        return response.json()

    def get(self, path: str) -> Any:
        """GET ``path``; the decoded JSON answer (SandboxError on an error status)."""
        return self._call("GET", path)

    def create(self, path: str, body: dict[str, Any]) -> None:
        """POST ``body`` to ``path``; an object that already exists is left as it is."""
        self._call("POST", path, body, ok=(409,))

    def aggregate_cluster_roles(self) -> None:
        """Fill the rules of the aggregated built-in ClusterRoles (view, edit, admin)."""
        items = self._call("GET", f"{_RBAC}/clusterroles")["items"]
        by_name: dict[str, dict[str, Any]] = {r["metadata"]["name"]: r for r in items}
        for name in _AGGREGATED:
            role = by_name.get(name)
            if role is None or not role.get("aggregationRule"):
                continue
            selectors = role["aggregationRule"].get("clusterRoleSelectors") or []
            rules: list[dict[str, Any]] = []
            for other in by_name.values():
                labels = other["metadata"].get("labels") or {}
                if other is role or not any(_selects(s, labels) for s in selectors):
                    continue
                rules += [r for r in other.get("rules") or [] if r not in rules]
            if rules != (role.get("rules") or []):
                role["rules"] = rules
                by_name[name] = self._call("PUT", f"{_RBAC}/clusterroles/{name}", role)

    def grant_namespace(self, namespace: str, *, user: str, cluster_role: str) -> None:
        """Create ``namespace`` and bind ``user`` to ``cluster_role`` in it (idempotent)."""
        self._call(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            ok=(409,),
        )
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{user}-{cluster_role}", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": cluster_role,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
        self._call("POST", f"{_RBAC}/namespaces/{namespace}/rolebindings", binding, ok=(409,))
