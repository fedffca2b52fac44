"""The cgroups of containers: a container's cgroup, and the container of a cgroup.

Container layout, shared with the Linux launcher (Mesos's paths): a container
`c` has the cgroup `<root>/c`; a nested one `<root>/c/mesos/n` (recursively);
on v2 its processes live in the `leaf` child of that cgroup (the
no-internal-process rule), so that nested cgroups can sit beside it.
"""

from __future__ import annotations

from mesos_py.linux.cgroups.tree import _walk
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID

SEPARATOR = "mesos"  # between a container's cgroup and its nested containers'
LEAF = "leaf"  # v2: the child cgroup holding a container's own processes
AGENT = "agent"  # v2 (Mesos HEAD): `<root>/agent` holds the agent itself
V1_AGENT = "slave"  # v1 (Mesos 1.11): `<root>/slave`, `--agent_subsystems`


# ===================================================== container cgroup paths
def container_cgroup(root: str, container_id: ContainerID) -> str:
    """`<root>/<id>`, or `<root>/<parent>/mesos/<id>` for a nested container."""
    if container_id.HasField("parent"):
        return f"{container_cgroup(root, container_id.parent)}/{SEPARATOR}/{container_id.value}"
    return f"{root.strip('/')}/{container_id.value}"


def leaf_cgroup(cgroup: str) -> str:
    """v2: the cgroup that holds the container's own processes."""
    return f"{cgroup.rstrip('/')}/{LEAF}"


def parse_container_cgroup(root: str, cgroup: str) -> ContainerID | None:
    """The container whose cgroup `cgroup` is, or None (root, leaf, agent, foreign)."""
    root, cgroup = root.strip("/"), cgroup.strip("/")
    if cgroup != root and not cgroup.startswith(root + "/"):
        return None
    tokens = [t for t in cgroup[len(root):].split("/") if t]
    if not tokens or (len(tokens) == 1 and tokens[0] in (AGENT, V1_AGENT)):
        return None
    current: ContainerID | None = None
    for index, token in enumerate(tokens):
        if index % 2:  # a separator is expected here
            if token != SEPARATOR:
                return None
            continue
        child = ContainerID(value=token)
        if current is not None:
            child.parent.CopyFrom(current)
        current = child
    if len(tokens) % 2 == 0:  # ends on a separator: `<c>/mesos` is not a container
        return None
    return current


def container_ids_under(hierarchy: str, root: str) -> list[ContainerID]:
    """Containers that have a cgroup below `<hierarchy>/<root>`, parents first."""
    found = []
    for cgroup in _walk(hierarchy, root.strip("/")):
        container_id = parse_container_cgroup(root, cgroup)
        if container_id is not None:
            found.append(container_id)
    return found
